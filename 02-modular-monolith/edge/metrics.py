"""The web process's Prometheus metrics: each HTTP request by method, route and status
(`shop_http_requests_total`, `shop_http_request_duration_seconds`), at /metrics on the web's
own port.

gunicorn runs several worker processes, each counting its own requests: each writes its
figures to files in one folder, PROMETHEUS_MULTIPROC_DIR (set, one folder per server, and
emptied at start by gunicorn.conf.py), and /metrics adds up every worker's files.
"""

import time

from django.http import HttpRequest, HttpResponse
from messaging.metrics import registry
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

# Request latencies of a shop on a laptop: from a fraction of a millisecond to seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
UNMATCHED_ROUTE = "unmatched"  # a path no URL pattern matches: one label, not one per path

HTTP_REQUESTS = Counter(
    "shop_http_requests", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "shop_http_request_duration_seconds",
    "Time from request to response, by route",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)


class MetricsMiddleware:
    """Counts and times every request by its URL pattern (`orders/<uuid:order_id>/`), not its
    path: one series per route, however many orders there are."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = match.route if match is not None and match.route else UNMATCHED_ROUTE
        HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response


def metrics_view(request: HttpRequest) -> HttpResponse:
    """/metrics of the web process: every worker's figures added up."""
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
