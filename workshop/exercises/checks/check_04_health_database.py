"""Check of exercise 04-health-database: a service's gRPC health answers NOT_SERVING while its
database does not answer, and SERVING again once it does, on the servers of the tests
(chassis.testing.serving) and on the one `serve_grpc` runs.

The servers are real and in-process: a catalog servicer that needs no table, on a free port.
"The database is down" is Django's connecting refused (every connection, in every thread, fails
with OperationalError, as when PostgreSQL is stopped); the test database itself stays up.
"""

import signal
import socket
import threading
import time

import grpc
import pytest
from chassis.errors import ServiceUnavailable
from chassis.grpc_client import ServiceClient, open_channel
from chassis.grpc_server import registers, rpc
from chassis.testing import django_db_modify_db_settings, serving  # noqa: F401 (a fixture)
from django.core.management import call_command
from django.db import OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from grpc_health.v1 import health_pb2, health_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

SERVICE = "shop.catalog.v1.CatalogService"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PATIENCE = 5.0  # seconds: generous; a health check that hangs fails on its deadline anyway


class Catalog(catalog_pb2_grpc.CatalogServiceServicer):
    @rpc
    def GetProduct(self, request, context):  # noqa: N802 (gRPC's method names)
        return catalog_pb2.Product(id=request.id, sku="KI-0001", price_cents=1250)


@registers(SERVICE)
def register(server):
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(Catalog(), server)


def health_of(target: str, service: str) -> int:
    """The status Check answers for `service` ("" is the server as a whole)."""
    with open_channel(target) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=PATIENCE
        )
    return answer.status


def name(status: int) -> str:
    return health_pb2.HealthCheckResponse.ServingStatus.Name(status)


@pytest.fixture
def target(db, settings):
    """A catalog server of the tests' kind, its database the test database."""
    with serving(register, service="check", settings=settings) as target:
        yield target


@pytest.fixture
def client(target) -> ServiceClient:
    """The chassis's client of it, as the gateway's readiness uses one (`check()`)."""
    return ServiceClient(
        "catalog", target=lambda: target, stub=catalog_pb2_grpc.CatalogServiceStub, service=SERVICE
    )


class Database:
    """The test database, stopped and started: while stopped, every connection is refused."""

    def __init__(self) -> None:
        self._patch = pytest.MonkeyPatch()

    def stop(self) -> None:
        def refuse(connection):
            raise OperationalError("connection refused (the check stopped the database)")

        self._patch.setattr(BaseDatabaseWrapper, "ensure_connection", refuse)

    def start(self) -> None:
        self._patch.undo()


@pytest.fixture
def database(db):
    database = Database()
    yield database
    database.start()


def test_a_service_whose_database_answers_is_serving(client, target):
    client.check()  # raises ServiceUnavailable unless SERVING
    assert client.call("GetProduct", catalog_pb2.GetProductRequest(id=1)).sku == "KI-0001"
    assert health_of(target, "") == SERVING


def test_a_service_whose_database_is_down_is_not_serving(client, target, database):
    database.stop()

    for service in ("", SERVICE):
        status = health_of(target, service)
        assert status == NOT_SERVING, (
            f"with its database down, the health of {service or 'the server'!r} is "
            f"{name(status)}: Check should answer NOT_SERVING while the database does not answer"
        )
    with pytest.raises(ServiceUnavailable):
        client.check()


def test_it_is_serving_again_once_the_database_is_back(client, target, database):
    database.stop()
    status = health_of(target, SERVICE)
    assert status == NOT_SERVING, f"with its database down, health says {name(status)}"

    database.start()

    status = health_of(target, SERVICE)
    assert status == SERVING, (
        f"the database is back, and health still says {name(status)}: ask the database on "
        "every Check, do not remember a failure"
    )
    client.check()


def test_an_unknown_service_is_still_not_found(target, database):
    database.stop()

    with pytest.raises(grpc.RpcError) as failed:
        health_of(target, "shop.nothing.v1.NothingService")

    assert failed.value.code() == grpc.StatusCode.NOT_FOUND, (
        "Check of a service the server does not have should still end with NOT_FOUND"
    )


def test_the_server_serve_grpc_runs_asks_its_database_too(db, settings, monkeypatch, database):
    settings.SHOP_GRPC_SERVICERS = f"{__name__}.register"
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)  # as `serving`
    # serve_grpc waits for SIGTERM, and only the main thread may install a signal handler:
    # keep the handler instead, and call it to stop the command.
    handlers = {}
    monkeypatch.setattr(
        signal, "signal", lambda signum, handler: handlers.update({signum: handler})
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    failures = []

    def serve() -> None:
        try:
            call_command("serve_grpc", address=address)
        except BaseException as error:  # shown by the test, not lost in a thread
            failures.append(error)

    command = threading.Thread(target=serve, daemon=True)  # never outlives the check
    command.start()
    try:
        wait_until_up(address, failures)
        assert health_of(address, SERVICE) == SERVING, "serve_grpc's server should be SERVING"

        database.stop()
        status = health_of(address, SERVICE)
        assert status == NOT_SERVING, (
            f"serve_grpc's server says {name(status)} with its database down: the command "
            "makes its own health servicer (chassis/management/commands/serve_grpc.py), and "
            "that one must ask the database too"
        )
        database.start()
        assert health_of(address, SERVICE) == SERVING, "SERVING again once the database is back"
    finally:
        if signal.SIGTERM in handlers:
            handlers[signal.SIGTERM](signal.SIGTERM, None)
        command.join(timeout=PATIENCE * 2)
    assert not command.is_alive(), "serve_grpc did not stop on SIGTERM"
    assert not failures, f"serve_grpc failed: {failures[0]!r}"


def wait_until_up(address: str, failures: list[BaseException]) -> None:
    """Until the server at `address` answers a health check (or the command failed)."""
    give_up = time.monotonic() + PATIENCE
    while not failures:
        try:
            health_of(address, "")
            return
        except grpc.RpcError:
            assert time.monotonic() < give_up, f"serve_grpc did not start on {address}"
            time.sleep(0.1)
    raise AssertionError(f"serve_grpc failed: {failures[0]!r}")
