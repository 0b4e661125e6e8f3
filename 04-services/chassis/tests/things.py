"""The events the chassis's tests record: the chassis has no domain of its own, so a test event
stands for any service's, and the order events of the stage's contract where an order is
natural (one order confirmed, then cancelled: the pair whose order must never be swapped)."""

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db import transaction

from chassis import outbox
from chassis.events import Event
from chassis.order_events import OrderedItem, OrderEvent


@dataclass(frozen=True, kw_only=True)
class ThingHappened(Event):
    event_type: ClassVar[str] = "thing.happened"

    thing_id: int

    @property
    def aggregate_id(self) -> str:
        return str(self.thing_id)

    def data(self) -> dict[str, Any]:
        return {"thing_id": self.thing_id}


def order_event(event_class: type[OrderEvent], order_id: uuid.UUID) -> OrderEvent:
    """An order event of one kettle, two at 12.50 EUR."""
    kettle = OrderedItem(
        product_id=1, sku="KI-0001", name="Kettle", unit_price_cents=1250, quantity=2
    )
    return event_class(
        order_id=order_id, email="ada@example.com", items=(kettle,), total_cents=2500
    )


def record_in_one_transaction(*events: Event) -> None:
    """Write `events` to the outbox, as a use case does with the change they report."""
    with transaction.atomic():
        for event in events:
            outbox.record(event)
