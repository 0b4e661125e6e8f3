"""Event-fed synchronisation: keep this service's catalog in step with the monolith's.

From the copy (`copy_catalog`) until the monolith's writes move here (chapter 3, step 6), staff
writes land in the monolith's own tables. Each records a `catalog.product_changed` event in
the monolith's outbox (03-strangler/catalog/events.py: the product's whole state and its
`updated_at`); the monolith's relay publishes it, and the `catalog-sync` process
(`python -m catalog_service sync_catalog`) hands it to `handle` here. No copy needs re-running.

Deliveries are at least once and, after a replay or with two consumers, not always in order:
- a second delivery of one event finds its id in ProcessedEvent and changes nothing;
- an event older than the row (its `updated_at` is not later than the row's) is stale and
  changes nothing, so an old price delivered late never overwrites a newer one.
The event is the contract: this module reads its JSON, never the monolith's code.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from kernel import broker
from kernel.consumer import MalformedEvent
from kombu import Queue

from . import products
from .models import Category, ProcessedEvent
from .models import Product as ProductRow

logger = logging.getLogger(__name__)

EVENT_TYPE = "catalog.product_changed"
CONSUMER = "catalog-sync"  # the queue's name, and the Procfile's name for the process


@dataclass(frozen=True)
class ProductChange:
    """The event as this service reads it: the product's state after the monolith's write."""

    event_id: uuid.UUID
    occurred_at: datetime
    product_id: int
    sku: str
    name: str
    description: str
    category: str
    price_cents: int
    created_at: datetime
    updated_at: datetime  # the version


def queue() -> Queue:
    """This consumer's durable queue, bound to the monolith's catalog events (settings)."""
    return broker.subscribed_queue(CONSUMER)


@transaction.atomic
def handle(envelope: dict[str, Any]) -> str:
    """Apply one event; returns "applied", "stale" (the row is as new or newer: kept) or
    "duplicate" (this event was handled before). The processed-event row and the change share
    one transaction: a failure undoes both, and the redelivered event tries again."""
    change = parse(envelope)
    try:
        with transaction.atomic():
            ProcessedEvent.objects.create(event_id=change.event_id, event_type=EVENT_TYPE)
    except IntegrityError:
        outcome = "duplicate"
    else:
        outcome = apply(change)
    lag = (timezone.now() - change.occurred_at).total_seconds()
    logger.info(
        "event=catalog_synced outcome=%s product_id=%s event_id=%s updated_at=%s lag_s=%.3f",
        outcome,
        change.product_id,
        change.event_id,
        change.updated_at.isoformat(),
        lag,
    )
    return outcome


def apply(change: ProductChange) -> str:
    """Write the product's state unless the row holds the same version or a newer one."""
    row = ProductRow.objects.select_for_update().filter(id=change.product_id).first()
    if row is not None and row.updated_at >= change.updated_at:
        return "stale"
    values = {
        "sku": change.sku,
        "name": change.name,
        "description": change.description,
        "category": Category.objects.get_or_create(slug=change.category)[0],
        "price_cents": change.price_cents,
        "created_at": change.created_at,
        "updated_at": change.updated_at,
    }
    if row is None:  # created in the monolith after the copy: same id, as the copy keeps them
        ProductRow.objects.create(id=change.product_id, **values)
        products.reset_id_sequences()
    else:
        ProductRow.objects.filter(id=change.product_id).update(**values)
    return "applied"


def parse(envelope: dict[str, Any]) -> ProductChange:
    """The event in `envelope`, or MalformedEvent (dropped: no retry can fix it)."""
    if envelope.get("event_type") != EVENT_TYPE:
        raise MalformedEvent(f"not a catalog event: {envelope.get('event_type')!r}")
    try:
        data = envelope["data"]
        return ProductChange(
            event_id=uuid.UUID(envelope["event_id"]),
            occurred_at=datetime.fromisoformat(envelope["occurred_at"]),
            product_id=int(data["product_id"]),
            sku=data["sku"],
            name=data["name"],
            description=data["description"],
            category=data["category"],
            price_cents=int(data["price_cents"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedEvent(f"{type(error).__name__}: {error}") from error


def forget_old_events() -> int:
    """Delete the ids of events applied more than SHOP_PROCESSED_EVENT_RETENTION_DAYS ago
    (longer than the monolith's outbox keeps a row to replay); returns how many."""
    cutoff = timezone.now() - timedelta(days=settings.SHOP_PROCESSED_EVENT_RETENTION_DAYS)
    return ProcessedEvent.objects.filter(processed_at__lt=cutoff).delete()[0]
