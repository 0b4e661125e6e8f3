"""The relay's own Prometheus metric: the outbox's lag, on its SHOP_METRICS_PORT (the ports
table of the stage's README) with kernel.metrics.serve(). (A consumer's lag, its queue's
depth, is kernel.metrics.QueueDepth: the catalog service's consumer serves it too.)

The gauge reads the database when Prometheus asks, not in a loop: a scrape every few
seconds costs one small query.
"""

import logging
from collections.abc import Iterable

from django.db import close_old_connections
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from messaging.models import OutboxMessage

logger = logging.getLogger(__name__)


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
