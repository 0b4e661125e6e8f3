"""Check of exercise 03-catalog-shadow-backend: with SHOP_CATALOG_BACKEND=shadow, catalog.api
answers from the monolith's tables, asks the catalog service the same reads, logs what differs
or fails, and sends writes to the monolith's tables only.

No catalog service runs: a fake stands in for the gRPC stub that `catalog.remote` calls
(`remote._stub`), so whatever way your code reaches the gRPC branch, the fake answers it.
"""

import logging
import os
import socket
import subprocess
import sys
import uuid

import grpc
import pytest
from catalog import api as catalog_api
from catalog import local, remote
from django.conf import settings
from shop.catalog.v1 import catalog_pb2

STAGE = settings.BASE_DIR


class FakeRpcError(grpc.RpcError):
    """What a failed call raises, as far as catalog.remote looks at it."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class FakeCatalogStub:
    """Stands in for the catalog service's stub: answers from `products` (by id), records
    every method called and the ids asked for, and raises `failure` when it is set."""

    def __init__(self) -> None:
        self.products: dict[int, catalog_pb2.Product] = {}
        self.calls: list[str] = []
        self.ids_asked: list[int] = []
        self.failure: Exception | None = None

    def _called(self, method: str) -> None:
        self.calls.append(method)
        if self.failure is not None:
            raise self.failure

    def GetProduct(self, request, timeout=None):  # noqa: N802 (gRPC's method names)
        self._called("GetProduct")
        self.ids_asked.append(request.id)
        if request.id not in self.products:
            raise FakeRpcError(grpc.StatusCode.NOT_FOUND, f"No product with id {request.id}.")
        return self.products[request.id]

    def BatchGetProducts(self, request, timeout=None):  # noqa: N802
        self._called("BatchGetProducts")
        self.ids_asked.extend(request.ids)
        found = [self.products[id] for id in request.ids if id in self.products]
        return catalog_pb2.BatchGetProductsResponse(products=found)

    def CreateProduct(self, request, timeout=None):  # noqa: N802
        self._called("CreateProduct")
        return request.product

    def UpdateProduct(self, request, timeout=None):  # noqa: N802
        self._called("UpdateProduct")
        return request.product


@pytest.fixture
def service(settings, monkeypatch, db) -> FakeCatalogStub:
    """SHOP_CATALOG_BACKEND=shadow, with the fake in place of the catalog service."""
    settings.SHOP_CATALOG_BACKEND = "shadow"
    settings.SHOP_CATALOG_GRPC_TARGET = f"127.0.0.1:{free_port()}"  # nobody listens there
    fake = FakeCatalogStub()
    monkeypatch.setattr(remote, "_stub", lambda: fake)
    return fake


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shadow_is_a_backend(service: FakeCatalogStub) -> None:
    """Fail with a clear message while catalog.api has no "shadow" branch."""
    try:
        catalog_api.products_get_many(product_ids=[])
    except KeyError as error:
        pytest.fail(
            f'catalog/api.py does not know SHOP_CATALOG_BACKEND="shadow" yet (KeyError: {error})'
        )
    service.calls.clear()


def kettle(service: FakeCatalogStub, **service_differs) -> catalog_api.Product:
    """A product in the monolith's tables, and the same product (or, given fields, a
    different one) in the fake service."""
    shadow_is_a_backend(service)
    product = local.product_create(
        sku=f"KI-{uuid.uuid4().hex[:8]}",
        name="Kettle",
        description="Boils water.",
        category="kitchen",
        price_cents=1250,
    )
    fields = {**vars(product), **service_differs}
    service.products[product.id] = catalog_pb2.Product(**fields, currency="EUR")
    return product


def warnings(caplog, event: str, function: str) -> list[logging.LogRecord]:
    """The records at WARNING or above whose message has `event=<event>` and
    `function=<function>` among its key=value pairs."""
    return [
        record
        for record in caplog.records
        if record.levelno >= logging.WARNING
        and {f"event={event}", f"function={function}"} <= set(record.getMessage().split())
    ]


# `db`, though it uses none: pytest-django runs the tests that use the database first, and
# this is the first thing to change.
def test_the_setting_accepts_shadow_and_still_refuses_an_unknown_backend(db):
    def settings_with(backend: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "SHOP_CATALOG_BACKEND": backend}
        command = [sys.executable, "-c", "import config.settings"]
        return subprocess.run(command, cwd=STAGE, env=env, capture_output=True, text=True)

    shadow = settings_with("shadow")
    assert shadow.returncode == 0, (
        "config/settings.py refuses SHOP_CATALOG_BACKEND=shadow:\n" + shadow.stderr[-400:]
    )
    unknown = settings_with("shade")
    assert unknown.returncode != 0 and "SHOP_CATALOG_BACKEND" in unknown.stderr, (
        "config/settings.py must still refuse an unknown SHOP_CATALOG_BACKEND (here 'shade')"
    )


def test_reads_answer_from_the_monolith_and_ask_the_service_too(service, caplog):
    product = kettle(service)

    assert catalog_api.product_get(product_id=product.id) == product
    assert "GetProduct" in service.calls, "product_get did not ask the catalog service too"

    found = catalog_api.products_get_many(product_ids=(id for id in [product.id, 2**62]))
    assert found == {product.id: product}
    assert "BatchGetProducts" in service.calls, (
        "products_get_many did not ask the catalog service too"
    )
    assert product.id in service.ids_asked[1:], (
        f"the service was asked for ids {service.ids_asked[1:]}, not {product.id}: a generator "
        "of ids is empty once the local branch has read it (make a list first)"
    )
    differences = [
        record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING
    ]
    assert differences == [], f"the answers were the same, yet it logged {differences}"


def test_a_difference_is_logged_and_the_monolith_answer_wins(service, caplog):
    product = kettle(service, price_cents=999)  # the service has an older price

    assert catalog_api.product_get(product_id=product.id).price_cents == 1250, (
        "in shadow mode the answer must come from the monolith's tables"
    )
    assert warnings(caplog, "catalog_shadow_difference", "product_get"), (
        "no WARNING with event=catalog_shadow_difference function=product_get"
    )

    del service.products[product.id]  # the copy never reached the service
    assert catalog_api.products_get_many(product_ids=[product.id]) == {product.id: product}
    assert warnings(caplog, "catalog_shadow_difference", "products_get_many"), (
        "no WARNING with event=catalog_shadow_difference function=products_get_many"
    )


@pytest.mark.parametrize(
    "failure",
    [FakeRpcError(grpc.StatusCode.UNAVAILABLE, "restarting"), RuntimeError("a bug")],
    ids=["the service is unavailable", "the client has a bug"],
)
def test_a_failing_service_does_not_fail_the_read(service, caplog, failure):
    product = kettle(service)
    service.failure = failure

    assert catalog_api.product_get(product_id=product.id) == product
    assert catalog_api.products_get_many(product_ids=[product.id]) == {product.id: product}
    for function in ("product_get", "products_get_many"):
        assert warnings(caplog, "catalog_shadow_failed", function), (
            f"no WARNING with event=catalog_shadow_failed function={function}"
        )
    catalog_api.check()  # the readiness probe: ready while the monolith is


def test_writes_go_to_the_monolith_only(service):
    shadow_is_a_backend(service)
    created = catalog_api.product_create(
        sku=f"MU-{uuid.uuid4().hex[:8]}",
        name="Mug",
        description="",
        category="kitchen",
        price_cents=450,
    )
    catalog_api.product_update(product_id=created.id, price_cents=500)

    assert local.product_get(product_id=created.id).price_cents == 500, (
        "the write did not reach the monolith's tables"
    )
    writes = [call for call in service.calls if call in ("CreateProduct", "UpdateProduct")]
    assert writes == [], (
        f"in shadow mode writes go to the monolith only, yet the service got {writes}"
    )
