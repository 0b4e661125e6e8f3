"""Prometheus metrics of every stage-04 process, with prometheus-client.

What is measured, and where Prometheus reads it (the ports table of the stage's README):

- the gateway (gunicorn, several worker processes): each HTTP request, by method, route and
  status (`shop_http_requests_total`, `shop_http_request_duration_seconds`), at /metrics on
  its own port. The workers are separate processes, each with its own counters: they write
  them to files in PROMETHEUS_MULTIPROC_DIR (set, one folder per server, and emptied at start
  by gunicorn.conf.py) and the /metrics view adds up every worker's files;
- each gRPC server: each call, by method and status code (`shop_grpc_server_calls_total`,
  `shop_grpc_server_call_duration_seconds`), recorded by the chassis's `rpc` wrapper;
- the outbox relay: the outbox's lag, the age of its oldest unpublished row;
- the saga recovery: the orders service's sagas by state;
- the notifications consumer: the messages waiting in its queue (the consumer's lag);

each of those on SHOP_METRICS_PORT (`serve()`, a small HTTP server in a thread), with the
Python process's own figures (CPU, memory, open files) that prometheus-client adds.
The gauges that read a database or the broker are computed when Prometheus asks, not kept
up to date in a loop: a scrape every few seconds costs one small query.
"""

import logging
import os
import time
from collections.abc import Iterable

from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
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
    """/metrics of an HTTP process: every worker's figures added up."""
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def registry() -> CollectorRegistry:
    """What a scrape reads: the files of every worker when the server runs several
    (PROMETHEUS_MULTIPROC_DIR), else this process's own registry."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


def observe_grpc_call(method: str, code: str, seconds: float) -> None:
    GRPC_LATENCY.labels(method).observe(seconds)
    GRPC_CALLS.labels(method, code).inc()


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


class DatabaseCollector(Collector):
    """A collector that reads the database when scraped, from the metrics server's thread:
    it checks its connection like a request would, and a database that is down gives no
    figure rather than an error page (the scrape's `up` still says the process lives)."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        close_old_connections()
        try:
            yield from self.read()
        except Exception as error:  # a scrape must not fail because the database restarts
            logger.warning(
                "event=metrics_read_failed collector=%s error=%r", type(self).__name__, error
            )
        finally:
            close_old_connections()

    def read(self) -> Iterable[GaugeMetricFamily]:
        raise NotImplementedError


class OutboxLag(DatabaseCollector):
    """How far the relay is behind: the age of the oldest unpublished outbox row (0 when the
    outbox is empty) and how many rows wait."""

    def read(self) -> Iterable[GaugeMetricFamily]:
        from chassis.models import OutboxMessage

        waiting = OutboxMessage.objects.filter(published_at__isnull=True)
        oldest = waiting.order_by("id").values_list("created_at", flat=True).first()
        age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "shop_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest outbox row not yet published (0: the outbox is empty)",
            value=max(age, 0.0),
        )
        yield GaugeMetricFamily(
            "shop_outbox_unpublished_rows", "Outbox rows not yet published", value=waiting.count()
        )


class QueueDepth(Collector):
    """A consumer's lag: the messages waiting in its queue, as the broker counts them
    (RabbitMQ's, or the file-system broker's files), read with a passive declare."""

    def __init__(self, queue):
        self.queue = queue

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from chassis import broker

        family = GaugeMetricFamily(
            "shop_broker_queue_messages", "Messages waiting in the queue", labels=["queue"]
        )
        try:
            with broker.connection() as connection:
                declared = self.queue(connection.default_channel).queue_declare(passive=True)
            family.add_metric([self.queue.name], declared.message_count)
        except Exception as error:  # a broker that is down gives no figure, not a failed scrape
            logger.warning("event=metrics_read_failed collector=QueueDepth error=%r", error)
        yield family
