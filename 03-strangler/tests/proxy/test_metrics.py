"""The proxy's /metrics: its own figures (requests by route of the table, side and status,
and their latency), answered by the proxy itself, never forwarded to an upstream."""

import re

import pytest
from prometheus_client import REGISTRY

from .fakes import SEEN, fake_upstream, running_proxy

pytestmark = pytest.mark.anyio  # each test runs in an event loop (anyio's pytest plugin)

SERVICE_READS = """
[[route]]
name = "catalog reads"
methods = ["GET", "HEAD"]
prefix = "/api/products/"
mode = "service"
"""


def proxied(route: str, side: str, status: str) -> float:
    labels = {"route": route, "side": side, "status": status}
    return REGISTRY.get_sample_value("shop_proxy_requests_total", labels) or 0.0


async def test_the_proxy_counts_each_request_by_route_and_side_and_serves_metrics_itself(tmp_path):
    before = proxied("catalog reads", "catalog", "200")
    monolith, catalog = fake_upstream("monolith"), fake_upstream("catalog")

    async with running_proxy(SERVICE_READS, tmp_path, monolith=monolith, catalog=catalog) as client:
        for _ in range(3):
            await client.get("/api/products/")
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()

    assert proxied("catalog reads", "catalog", "200") == before + 3
    assert re.search(
        r'^shop_proxy_request_duration_seconds_count\{route="catalog reads",side="catalog"\} ',
        text,
        re.M,
    )
    # The proxy's own answer: neither upstream saw the request.
    assert ("GET", "/metrics") not in monolith[SEEN] + catalog[SEEN]
