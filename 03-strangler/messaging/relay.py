"""The outbox relay: publish unpublished outbox rows to the broker, in order, and mark them.

Delivery is at least once: a relay that dies after publishing and before its commit publishes
those rows again when it restarts, so consumers must be idempotent (notifications is).

Order: rows go out in id order and a batch stops at the first failure, so an event is never
published before one recorded earlier (an order's "cancelled" never overtakes its
"confirmed"). On PostgreSQL a second relay skips the rows the first one holds
(`SELECT ... FOR UPDATE SKIP LOCKED`: no double publish) and publishes nothing that would
overtake them (`_in_order`). SQLite has one writer at a time, so relays take turns anyway.

Bounded: once an hour the relay deletes the rows published longer ago than
settings.SHOP_OUTBOX_RETENTION_DAYS (`prune_published`). A published row is kept that long
so that an event can be replayed from it; the consumers remember the events they handled
for longer still (SHOP_PROCESSED_EVENT_RETENTION_DAYS), so a replay is recognised.

Tracing: each publish is a span in the trace of the transaction that wrote the row (its
stored traceparent), and the message's headers carry that span's context on to the
consumers: a checkout's trace shows its event leaving, and the gap before it left.
"""

import itertools
import logging
import threading
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.utils import timezone
from kernel import broker, telemetry
from kombu.exceptions import KombuError
from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from .models import OutboxMessage

logger = logging.getLogger(__name__)

BATCH_SIZE = 100
PRUNE_EVERY = 3600.0  # seconds between two deletions of old published rows


class BrokerUnavailable(Exception):
    """The broker could not take a message; the row stays in the outbox for the next try."""


class Publisher:
    """Publishes event envelopes to the events exchange over one connection, opened on first
    use and dropped on failure (the next publish reconnects)."""

    def __init__(self) -> None:
        self._connection = None
        self._producer = None

    def publish(self, envelope: dict[str, Any]) -> None:
        headers: dict[str, str] = {}
        propagate.inject(headers)  # the current span's traceparent, for the consumers
        try:
            producer = self._producer or self._connect()
            producer.publish(
                envelope,
                routing_key=envelope["event_type"],
                headers=headers,
                serializer="json",
                delivery_mode=2,  # persistent: RabbitMQ keeps it on disk until consumed
                message_id=envelope["event_id"],
                retry=False,  # fail fast: the relay's loop does the retrying, with backoff
            )
        except (KombuError, OSError, *self._broker_errors()) as error:
            self.close()
            raise BrokerUnavailable(f"{type(error).__name__}: {error}") from error

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # closing a broken connection may fail too; nothing to keep
                logger.debug("event=broker_close_failed", exc_info=True)
        self._connection = self._producer = None

    def _connect(self):
        self._connection = broker.connection()
        broker.check(self._connection)
        # Every subscriber's queue exists before the first event goes out, even if that
        # subscriber has never run: the exchange would drop an event nobody is bound to.
        broker.declare_subscriptions(self._connection)
        # auto_declare: the exchange exists before the first publish (RabbitMQ refuses a
        # publish to an unknown exchange; the file-system transport must know its type).
        self._producer = self._connection.Producer(exchange=broker.events_exchange())
        return self._producer

    def _broker_errors(self) -> tuple[type[BaseException], ...]:
        if self._connection is None:
            return ()
        return self._connection.connection_errors + self._connection.channel_errors


def publish_pending(*, publisher: Publisher, batch_size: int = BATCH_SIZE) -> int:
    """Publish up to `batch_size` waiting rows, oldest first; return how many went out.

    Raises BrokerUnavailable after committing what was published before the failure.
    """
    if not OutboxMessage.objects.filter(published_at__isnull=True).exists():
        return 0  # the common case, answered without a write transaction
    failure: BrokerUnavailable | None = None
    published: list[OutboxMessage] = []
    with transaction.atomic():
        waiting = OutboxMessage.objects.filter(published_at__isnull=True).order_by("id")
        batch = _in_order(list(waiting.select_for_update(skip_locked=True)[:batch_size]))
        if not batch:
            return 0  # nothing waiting, or another relay holds the oldest rows: stand by
        for message in batch:
            try:
                with _publish_span(message):
                    publisher.publish(message.payload)
            except BrokerUnavailable as error:
                failure = error
                break
            published.append(message)
        OutboxMessage.objects.filter(id__in=[message.id for message in published]).update(
            published_at=timezone.now()
        )
    for message in published:
        logger.info(
            "event=outbox_published id=%s event_type=%s aggregate_id=%s event_id=%s",
            message.id,
            message.event_type,
            message.aggregate_id,
            message.event_id,
        )
    if failure is not None:
        raise failure
    return len(published)


def _publish_span(message: OutboxMessage):
    """A child of the span that wrote the row (semantic conventions for messaging)."""
    return telemetry.tracer.start_as_current_span(
        f"publish {message.event_type}",
        context=telemetry.context_from(message.traceparent),
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "send",
            "messaging.destination.name": broker.events_exchange().name,
            "messaging.rabbitmq.destination.routing_key": message.event_type,
            "messaging.message.id": str(message.event_id),
        },
    )


def _in_order(batch: list[OutboxMessage]) -> list[OutboxMessage]:
    """The part of a locked batch that can go out now without overtaking anything.

    Two relays selecting at the same moment can interleave their locks (one gets rows 1 and
    3, the other row 2): rows skipped because another relay holds them leave gaps. Publish
    only up to the first gap; the rows after it wait for the next round.
    """
    if not batch:
        return []
    waiting_ids = (
        OutboxMessage.objects.filter(published_at__isnull=True, id__lte=batch[-1].id)
        .order_by("id")
        .values_list("id", flat=True)
    )
    in_order = itertools.takewhile(
        lambda pair: pair[0].id == pair[1], zip(batch, waiting_ids, strict=False)
    )
    return [message for message, _ in in_order]


def prune_published(*, older_than: timedelta, batch_size: int = 1000) -> int:
    """Delete the rows published more than `older_than` ago, `batch_size` at a time (short
    transactions beside the relay's own); returns how many. Unpublished rows stay, however
    old: they are the events still owed."""
    cutoff = timezone.now() - older_than
    old = OutboxMessage.objects.filter(published_at__lt=cutoff).order_by("id")
    deleted = 0
    while ids := list(old.values_list("id", flat=True)[:batch_size]):
        deleted += OutboxMessage.objects.filter(id__in=ids).delete()[0]
    if deleted:
        logger.info("event=outbox_pruned deleted=%d older_than=%s", deleted, older_than)
    return deleted


def run(
    *,
    stop: threading.Event,
    poll_interval: float = 0.2,
    max_backoff: float = 10.0,
    prune_every: float = PRUNE_EVERY,
) -> None:
    """Relay until `stop` is set: poll every `poll_interval` seconds while there is nothing to
    do; after a failure, wait twice as long each time (up to `max_backoff`) before retrying.
    Every `prune_every` seconds (and once at the start), delete old published rows."""
    publisher = Publisher()
    backoff = poll_interval
    next_prune = time.monotonic()
    logger.info("event=relay_started exchange=%s", broker.events_exchange().name)
    try:
        while not stop.is_set():
            try:
                if time.monotonic() >= next_prune:
                    retention = timedelta(days=settings.SHOP_OUTBOX_RETENTION_DAYS)
                    prune_published(older_than=retention)
                    next_prune = time.monotonic() + prune_every
                published = publish_pending(publisher=publisher)
            except (BrokerUnavailable, DatabaseError) as error:
                backoff = min(backoff * 2, max_backoff)
                logger.warning(
                    "event=outbox_publish_failed retry_in=%.1fs error=%s", backoff, error
                )
                close_old_connections()
                stop.wait(backoff)
                continue
            backoff = poll_interval
            if published < BATCH_SIZE:
                stop.wait(poll_interval)
    finally:
        publisher.close()
        logger.info("event=relay_stopped")
