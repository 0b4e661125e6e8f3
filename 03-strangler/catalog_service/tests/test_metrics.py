"""The catalog service's metrics: its gRPC calls by method and status code (the catalog-grpc
process serves them on its metrics port), its HTTP reads by route at catalog-web's /metrics."""

import re

import grpc
import pytest
from prometheus_client import REGISTRY
from shop.catalog.v1 import catalog_pb2

METHOD = "CatalogServicer.GetProduct"


def calls(code: str) -> float:
    labels = {"method": METHOD, "code": code}
    return REGISTRY.get_sample_value("shop_grpc_server_calls_total", labels) or 0.0


@pytest.mark.django_db(transaction=True)  # the servicer runs in the server's threads
def test_each_grpc_call_is_counted_by_method_and_status_code(catalog, product_factory):
    ok_before, not_found_before = calls("OK"), calls("NOT_FOUND")
    product = product_factory()

    catalog.GetProduct(catalog_pb2.GetProductRequest(id=product.id), timeout=5)
    with pytest.raises(grpc.RpcError):
        catalog.GetProduct(catalog_pb2.GetProductRequest(id=999999), timeout=5)

    assert calls("OK") == ok_before + 1
    assert calls("NOT_FOUND") == not_found_before + 1
    timed = REGISTRY.get_sample_value(
        "shop_grpc_server_call_duration_seconds_count", {"method": METHOD}
    )
    assert timed is not None and timed >= 2


def test_the_metrics_page_counts_the_reads_by_route(api_client, product_factory):
    product = product_factory()
    api_client.get(f"/api/products/{product.id}/")

    text = api_client.get("/metrics").content.decode()

    assert re.search(
        r'^shop_http_requests_total\{method="GET",route="api/products/<id:product_id>/",'
        r'status="200"\} [1-9]',
        text,
        re.M,
    )
