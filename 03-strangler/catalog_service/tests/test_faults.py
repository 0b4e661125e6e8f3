"""`make fault`'s latency and errors: the catalog service obeys the fault file of its process
while it is in force, leaves its health check alone, and ignores an expired one."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from django.db import connections
from grpc_health.v1 import health_pb2, health_pb2_grpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from catalog_service import faults
from catalog_service.grpc_server import build_server

from .conftest import make_product

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fault_file(tmp_path, monkeypatch) -> Path:
    """The file `make fault` writes for this process: supervisord names it catalog-grpc."""
    monkeypatch.setenv("SUPERVISOR_PROCESS_NAME", "catalog-grpc")
    monkeypatch.setenv("SHOP_VAR_DIR", str(tmp_path))
    (tmp_path / "faults").mkdir()
    return tmp_path / "faults" / "catalog-grpc.json"


@pytest.fixture
def channel(fault_file, monkeypatch) -> Iterator[grpc.Channel]:
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)
    server, port = build_server("127.0.0.1:0", max_workers=4)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        server.stop(grace=None).wait()


def write(path: Path, *, latency_ms: int = 0, error: str | None = None, seconds: float = 30):
    path.write_text(
        json.dumps({"latency_ms": latency_ms, "error": error, "until": time.time() + seconds})
    )


def get_product(channel: grpc.Channel, product_id: int) -> catalog_pb2.Product:
    stub = catalog_pb2_grpc.CatalogServiceStub(channel)
    return stub.GetProduct(catalog_pb2.GetProductRequest(id=product_id), timeout=5)


def test_without_a_fault_file_calls_are_answered(channel):
    product = make_product()
    assert get_product(channel, product.id).id == product.id


def test_an_errors_fault_fails_every_call_but_not_the_health_check(channel, fault_file):
    product = make_product()
    write(fault_file, error="UNAVAILABLE")

    with pytest.raises(grpc.RpcError) as failed:
        get_product(channel, product.id)

    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "make fault" in failed.value.details()
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_a_latency_fault_delays_every_call(channel, fault_file):
    product = make_product()
    write(fault_file, latency_ms=400)

    started = time.monotonic()
    assert get_product(channel, product.id).id == product.id
    assert time.monotonic() - started >= 0.4


def test_an_expired_fault_is_ignored(channel, fault_file):
    product = make_product()
    write(fault_file, error="UNAVAILABLE", seconds=-1)

    assert get_product(channel, product.id).id == product.id


def test_a_process_not_started_by_make_run_has_no_fault_interceptor(monkeypatch):
    monkeypatch.delenv("SUPERVISOR_PROCESS_NAME", raising=False)
    assert faults.interceptors() == []
