"""Prometheus metrics of the stage's background processes, with prometheus-client: the relay
serves the outbox's lag, the notifications consumer its queue's depth (its lag), each on its
SHOP_METRICS_PORT (the ports table of the stage's README), with the Python process's own
figures (CPU, memory, open files) that prometheus-client adds. The web's HTTP metrics are
edge/metrics.py's; both read what they serve through `registry()`.

The gauges read the database or the broker when Prometheus asks, not in a loop: a scrape
every few seconds costs one small query.
"""

import logging
import os
from collections.abc import Iterable

from django.db import close_old_connections
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from messaging import broker
from messaging.models import OutboxMessage

logger = logging.getLogger(__name__)


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


class OutboxLag(Collector):
    """How far the relay is behind: the age of the oldest unpublished outbox row (0 when the
    outbox is empty) and how many rows wait. Read from the metrics server's thread: it checks
    its connection as a request would, and a database that is down gives no figure rather
    than a failed scrape (the scrape's `up` still says the process lives)."""

    def collect(self) -> Iterable[GaugeMetricFamily]:
        close_old_connections()
        try:
            waiting = OutboxMessage.objects.filter(published_at__isnull=True)
            oldest = waiting.order_by("id").values_list("created_at", flat=True).first()
            age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
            count = waiting.count()
        except Exception as error:  # a scrape must not fail because the database restarts
            logger.warning("event=metrics_read_failed collector=OutboxLag error=%r", error)
            return
        finally:
            close_old_connections()
        yield GaugeMetricFamily(
            "shop_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest outbox row not yet published (0: the outbox is empty)",
            value=max(age, 0.0),
        )
        yield GaugeMetricFamily(
            "shop_outbox_unpublished_rows", "Outbox rows not yet published", value=count
        )


class QueueDepth(Collector):
    """A consumer's lag: the messages waiting in its queue, as the broker counts them
    (RabbitMQ's, or the file-system broker's files), read with a passive declare."""

    def __init__(self, queue):
        self.queue = queue

    def collect(self) -> Iterable[GaugeMetricFamily]:
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
