"""Prometheus metrics of the monolith's processes, with prometheus-client.

- web (gunicorn, several worker processes): each HTTP request by method, route and status
  (`shop_http_requests_total`, `shop_http_request_duration_seconds`), at /metrics on the
  web's own port. Each worker counts in files of its own in PROMETHEUS_MULTIPROC_DIR (set,
  one folder per server, and emptied at start by gunicorn.conf.py); /metrics adds them up.
- worker (Celery, a pool of processes): each task by name and outcome, with its duration
  (`shop_celery_tasks_total`, `shop_celery_task_duration_seconds`), and the messages
  waiting in the task queue (the worker's lag), on SHOP_METRICS_PORT. Its pool processes
  count in files too (`serve_worker_metrics`, in config/celery.py, sets the folder).

prometheus-client picks single- or multi-process mode when it is first imported: in a
process that runs several (gunicorn's master, Celery's main process) this module is
imported only once the folder is set, before the pool is forked.
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
CELERY_TASKS = Counter("shop_celery_tasks", "Celery tasks run, by outcome", ["task", "state"])
CELERY_TASK_LATENCY = Histogram(
    "shop_celery_task_duration_seconds",
    "Time to run a Celery task",
    ["task"],
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
    """/metrics of the web process: every worker's figures added up."""
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def registry() -> CollectorRegistry:
    """What a scrape reads: the files of every process of the server when it runs several
    (PROMETHEUS_MULTIPROC_DIR), else this process's own registry."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


def serve(*collectors: Collector) -> int | None:
    """Serve the metrics on SHOP_METRICS_PORT (the Procfile line sets it), with `collectors`
    added; nothing when it is unset (a one-off command, a test). Returns the port."""
    port = os.environ.get("SHOP_METRICS_PORT")
    if not port:
        return None
    served = registry()
    for collector in collectors:
        served.register(collector)
    host = os.environ.get("SHOP_HOST", "127.0.0.1")
    start_http_server(int(port), addr=host, registry=served)
    logger.info("event=metrics_serving address=%s:%s path=/metrics", host, port)
    return int(port)


def observe_task(task: str, state: str, seconds: float | None) -> None:
    CELERY_TASKS.labels(task, state).inc()
    if seconds is not None:
        CELERY_TASK_LATENCY.labels(task).observe(seconds)


class QueueDepth(Collector):
    """The worker's lag: the messages waiting in the task queue, as the broker counts them
    (RabbitMQ's, or the file-system broker's files), read with a passive declare."""

    def __init__(self, app):
        self.app = app

    def collect(self) -> Iterable[GaugeMetricFamily]:
        name = self.app.conf.task_default_queue
        family = GaugeMetricFamily(
            "shop_broker_queue_messages", "Messages waiting in the queue", labels=["queue"]
        )
        try:
            with self.app.connection_for_read() as connection:
                queue = self.app.amqp.queues[name].bind(connection.default_channel)
                family.add_metric([name], queue.queue_declare(passive=True).message_count)
        except Exception as error:  # a broker that is down gives no figure, not a failed scrape
            logger.warning("event=metrics_read_failed collector=QueueDepth error=%r", error)
        yield family
