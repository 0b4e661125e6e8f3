"""What the network adds to catalog.api with SHOP_CATALOG_BACKEND=grpc, and how it shows.

A fake catalog service on an in-process gRPC server plays each failure: a service that is
down, one that is too slow, one that fails once and then answers, one with a bug. The public
API must answer each with its envelope (503 + Retry-After, or 500), never a stack trace, and
within the deadline.
"""

import time
from collections.abc import Callable, Iterator
from concurrent import futures

import grpc
import pytest
from catalog import api as catalog_api
from catalog import remote
from kernel.errors import ServiceUnavailable
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from ..processes import free_port

KETTLE = catalog_pb2.Product(
    id=7, sku="KI-0007", name="Kettle", category="kitchen", price_cents=1250, currency="EUR"
)


class FakeCatalog(catalog_pb2_grpc.CatalogServiceServicer):
    """Answers GetProduct and CreateProduct with KETTLE after `behaviour` had its say:
    a function of the call's number (1, 2, …) and the context, which may sleep or abort."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.behaviour: Callable[[int, grpc.ServicerContext], None] = lambda n, context: None

    def _answer(self, method: str, context: grpc.ServicerContext) -> catalog_pb2.Product:
        self.calls.append(method)
        self.behaviour(len(self.calls), context)
        return KETTLE

    def GetProduct(self, request, context):  # noqa: N802 (gRPC's method names)
        return self._answer("GetProduct", context)

    def CreateProduct(self, request, context):  # noqa: N802
        return self._answer("CreateProduct", context)


@pytest.fixture
def fake_catalog(settings) -> Iterator[FakeCatalog]:
    fake = FakeCatalog()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    settings.SHOP_CATALOG_BACKEND = "grpc"
    settings.SHOP_CATALOG_GRPC_TARGET = f"127.0.0.1:{port}"
    yield fake
    server.stop(grace=None)


@pytest.fixture
def catalog_down(settings) -> None:
    settings.SHOP_CATALOG_BACKEND = "grpc"
    settings.SHOP_CATALOG_GRPC_TARGET = f"127.0.0.1:{free_port()}"  # nobody listens there


def assert_service_unavailable(response) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "service_unavailable"


def test_a_read_is_retried_when_the_service_was_briefly_unavailable(fake_catalog):
    def unavailable_once(n, context):
        if n == 1:
            context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")

    fake_catalog.behaviour = unavailable_once

    product = catalog_api.product_get(product_id=7)

    assert product.sku == "KI-0007"
    assert fake_catalog.calls == ["GetProduct", "GetProduct"]


def test_a_write_is_not_retried_it_may_have_happened(fake_catalog, db):
    fake_catalog.behaviour = lambda n, context: context.abort(grpc.StatusCode.UNAVAILABLE, "no")

    with pytest.raises(ServiceUnavailable):
        catalog_api.product_create(
            sku="KI-0007", name="Kettle", description="", category="kitchen", price_cents=1250
        )

    assert fake_catalog.calls == ["CreateProduct"]


def test_a_slow_service_costs_the_deadline_then_a_503(fake_catalog, settings, api_client, db):
    settings.SHOP_CATALOG_GRPC_TIMEOUT = 0.3
    fake_catalog.behaviour = lambda n, context: time.sleep(2)

    started = time.monotonic()
    response = api_client.get("/api/products/7/")
    waited = time.monotonic() - started

    assert_service_unavailable(response)
    assert waited < 1.5, f"the caller waited {waited:.1f} s, past its 0.3 s deadline"


def test_a_service_that_is_down_is_a_503_on_reads_writes_and_carts(
    catalog_down, api_client, staff_client
):
    assert_service_unavailable(api_client.get("/api/products/1/"))
    assert_service_unavailable(api_client.get("/api/products/"))
    cart_id = api_client.post("/api/carts/").json()["id"]
    assert_service_unavailable(
        api_client.post(f"/api/carts/{cart_id}/items/", {"product_id": 1, "quantity": 1})
    )
    assert_service_unavailable(staff_client.patch("/api/products/1/", {"name": "Offline"}))


def test_readiness_reports_the_catalog_when_it_is_down(catalog_down, api_client, db):
    response = api_client.get("/api/health/ready/")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "catalog": "error"}


def test_a_bug_in_the_service_is_a_500_envelope_not_a_trace(fake_catalog, api_client, db):
    fake_catalog.behaviour = lambda n, context: context.abort(grpc.StatusCode.INTERNAL, "boom")

    response = api_client.get("/api/products/7/")

    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "Something went wrong on our side."}
    }
    assert fake_catalog.calls == ["GetProduct"]  # INTERNAL is not retried


def test_one_channel_per_target_is_reused(fake_catalog):
    assert remote.channel() is remote.channel()
