"""The proxy's Prometheus metrics, at /metrics on its own port (a path it never forwards):
each request by the route of the table that matched it, the side that answered (monolith or
service) and the status, with its latency through the proxy. /_proxy/stats says the same to
a person, with the shadow comparisons; this is the form Prometheus reads and keeps.

One process (asyncio), so prometheus-client's default registry is all there is to serve,
with the Python process's own figures. Latency buckets: prometheus-client's defaults.
"""

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

REQUESTS = Counter(
    "shop_proxy_requests", "Requests the proxy answered", ["route", "side", "status"]
)
LATENCY = Histogram(
    "shop_proxy_request_duration_seconds",
    "Time from request to response through the proxy",
    ["route", "side"],
)


def observe(route: str, side: str, status: int, seconds: float) -> None:
    LATENCY.labels(route, side).observe(seconds)
    REQUESTS.labels(route, side, str(status)).inc()


async def show_metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
