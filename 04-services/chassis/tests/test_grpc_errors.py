"""Domain errors cross a real gRPC call and come out as themselves, whatever the service.

A servicer whose GetProduct raises what the test says is served in-process; the client is
the chassis's own ServiceClient, as every caller in the stage uses it.
"""

import time

import pytest
from django.db import OperationalError
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from chassis import errors
from chassis.grpc_client import ServiceClient
from chassis.grpc_server import registers, rpc
from chassis.testing import running_server

SERVICE = "shop.catalog.v1.CatalogService"


class RaisingCatalog(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self) -> None:
        self.error: Exception | None = None
        self.delay = 0.0
        self.calls = 0

    @rpc
    def GetProduct(self, request, context):  # noqa: N802 (gRPC's method names)
        self.calls += 1
        until = time.monotonic() + self.delay
        while time.monotonic() < until and context.is_active():  # ends when the caller gives up
            time.sleep(0.01)
        if self.error is not None:
            raise self.error
        return catalog_pb2.Product(id=request.id, sku="KI-0001", price_cents=1250)


@pytest.fixture
def servicer():
    return RaisingCatalog()


@pytest.fixture
def client(servicer, settings):
    @registers(SERVICE)
    def register(server):
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, server)

    with running_server(register) as target:
        settings.SHOP_GRPC_TARGETS = {**settings.SHOP_GRPC_TARGETS, "test": target}
        yield client_for("test")


def client_for(name: str) -> ServiceClient:
    from django.conf import settings

    return ServiceClient(
        "catalog",
        target=lambda: settings.SHOP_GRPC_TARGETS[name],
        stub=catalog_pb2_grpc.CatalogServiceStub,
        service=SERVICE,
        retried=("GetProduct",),
    )


def get(client: ServiceClient):
    return client.call("GetProduct", catalog_pb2.GetProductRequest(id=1))


def test_an_answer_passes_through(client):
    assert get(client).sku == "KI-0001"


@pytest.mark.parametrize(
    "error",
    [
        errors.NotFound("No product with id 1."),
        errors.CartClosed(),
        errors.PaymentDeclined(),
        errors.InvalidState(),
        errors.IdempotencyKeyReused(),
    ],
    ids=lambda error: error.code,
)
def test_a_domain_error_arrives_as_its_own_class_with_its_message(client, servicer, error):
    servicer.error = error

    with pytest.raises(type(error)) as raised:
        get(client)

    assert raised.value.code == error.code
    assert raised.value.status == error.status
    assert raised.value.message == error.message


def test_out_of_stock_keeps_its_shortages(client, servicer):
    shortages = [{"product_id": 3, "requested": 5, "available": 2}]
    servicer.error = errors.OutOfStock(shortages)

    with pytest.raises(errors.OutOfStock) as raised:
        get(client)

    assert raised.value.details == {"shortages": shortages}


def test_a_validation_error_keeps_its_fields(client, servicer):
    servicer.error = errors.ValidationFailed("payment_token", "Unknown payment token.")

    with pytest.raises(errors.ValidationFailed) as raised:
        get(client)

    assert raised.value.fields == {"payment_token": ["Unknown payment token."]}


def test_a_database_that_is_down_is_unavailable_naming_the_service(client, servicer):
    servicer.error = OperationalError("connection refused")

    with pytest.raises(errors.ServiceUnavailable) as raised:
        get(client)

    assert raised.value.details == {"service": "chassis_tests"}
    # The servicer answered: its caller does not retry that (chassis.grpc_server).
    assert servicer.calls == 1


def test_a_dependency_that_is_down_is_named_as_it_was_by_the_service_that_called_it(
    client, servicer
):
    servicer.error = errors.ServiceUnavailable(
        "The payments service is unavailable.", details={"service": "payments"}
    )

    with pytest.raises(errors.ServiceUnavailable) as raised:
        get(client)

    assert raised.value.message == "The payments service is unavailable."
    assert raised.value.details == {"service": "payments"}
    assert servicer.calls == 1


def test_a_bug_is_an_internal_error_and_not_retried(client, servicer):
    servicer.error = ZeroDivisionError("oops")

    with pytest.raises(errors.InternalError):
        get(client)

    assert servicer.calls == 1


def test_a_slow_service_is_unavailable_at_the_deadline(client, servicer, settings):
    settings.SHOP_GRPC_TIMEOUT = 0.2
    servicer.delay = 1.0

    started = time.monotonic()
    with pytest.raises(errors.ServiceUnavailable):
        get(client)

    assert time.monotonic() - started < 0.9


def test_a_service_that_is_not_there_is_unavailable(settings):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.SHOP_GRPC_TARGETS = {**settings.SHOP_GRPC_TARGETS, "nowhere": f"127.0.0.1:{port}"}

    with pytest.raises(errors.ServiceUnavailable):
        get(client_for("nowhere"))
    with pytest.raises(errors.ServiceUnavailable):
        client_for("nowhere").check()


def test_the_health_service_answers_serving(client):
    client.check()  # raises unless SERVING
