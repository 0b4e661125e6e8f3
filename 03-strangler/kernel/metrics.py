"""Prometheus metrics shared by the stage's two Django deployables, the monolith and the
catalog service (as kernel/http.py shares their API's parts), with prometheus-client:

- each HTTP request by method, route and status (`shop_http_requests_total`,
  `shop_http_request_duration_seconds`), at /metrics on each web server's own port;
- each gRPC call the catalog service serves, by method and status code
  (`shop_grpc_server_calls_total`, `shop_grpc_server_call_duration_seconds`);
- `serve()`: a process that serves no HTTP (the relay, the consumer, the gRPC server)
  serves its metrics on SHOP_METRICS_PORT, with the Python process's own figures;
- `QueueDepth`: a consumer's lag, the messages waiting in its queue (the notifications
  consumer's and the catalog service's catalog-sync).

gunicorn runs several worker processes, each counting its own requests: each writes its
figures to files in one folder, PROMETHEUS_MULTIPROC_DIR (set, one folder per server, and
emptied at start by gunicorn.conf.py), and /metrics adds up every worker's files.
"""

import logging
import os
import time
from collections.abc import Iterable

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kernel import broker

logger = logging.getLogger(__name__)

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
GRPC_CALLS = Counter("shop_grpc_server_calls", "gRPC calls served", ["method", "code"])
GRPC_LATENCY = Histogram(
    "shop_grpc_server_call_duration_seconds",
    "Time to serve a gRPC call, by method",
    ["method"],
    buckets=LATENCY_BUCKETS,
)


class MetricsMiddleware:
    """Counts and times every request by its URL pattern (`api/orders/<uuid:order_id>/`),
    not its path: one series per route, however many orders there are."""

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
    """/metrics of a web process: every worker's figures added up."""
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def observe_grpc_call(method: str, code: str, seconds: float) -> None:
    GRPC_LATENCY.labels(method).observe(seconds)
    GRPC_CALLS.labels(method, code).inc()


def registry() -> CollectorRegistry:
    """What a scrape reads: the files of every process of a server that runs several
    (gunicorn's workers, PROMETHEUS_MULTIPROC_DIR), else this process's own registry."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


def serve(*collectors: Collector) -> int | None:
    """Serve this process's metrics on SHOP_METRICS_PORT (its Procfile line sets it), with
    `collectors` added; nothing when it is unset (a one-off command, a test). Returns the port."""
    port = os.environ.get("SHOP_METRICS_PORT")
    if not port:
        return None
    for collector in collectors:
        REGISTRY.register(collector)
    host = os.environ.get("SHOP_HOST", "127.0.0.1")
    start_http_server(int(port), addr=host)
    logger.info("event=metrics_serving address=%s:%s path=/metrics", host, port)
    return int(port)


class QueueDepth(Collector):
    """Consumers' lag: the messages waiting in each of `queues`, as the broker counts them
    (RabbitMQ's, or the file-system broker's files), read with a passive declare. A consumer
    serves its own queue's; the relay serves every subscriber's, so that the lag of a
    consumer that is down (and serves nothing) still shows."""

    def __init__(self, *queues):
        self.queues = queues

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "shop_broker_queue_messages", "Messages waiting in the queue", labels=["queue"]
        )
        for queue in self.queues:
            # A connection each: on RabbitMQ a queue not declared yet fails its passive declare
            # and closes the channel, which must not cost the other queues their figures.
            try:
                with broker.connection() as connection:
                    declared = queue(connection.default_channel).queue_declare(passive=True)
                family.add_metric([queue.name], declared.message_count)
            except Exception as error:  # a broker that is down: no figure, not a failed scrape
                logger.warning(
                    "event=metrics_read_failed collector=QueueDepth queue=%s error=%r",
                    queue.name,
                    error,
                )
        yield family
