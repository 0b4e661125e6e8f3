"""The orders service's integration events: an order was confirmed, an order was cancelled.

A contract between services, like a .proto file: the orders service publishes them (through
its outbox), the notifications service consumes them, and neither imports the other, so
the classes live here, in the chassis both import. The events carry what a consumer needs
(email, items, total), so notifications writes its email without calling the orders service
back. Past tense, immutable, versioned.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from chassis.events import Event


@dataclass(frozen=True)
class OrderedItem:
    product_id: int
    sku: str
    name: str
    unit_price_cents: int
    quantity: int


@dataclass(frozen=True, kw_only=True)
class OrderEvent(Event):
    """The fields both order events carry."""

    order_id: uuid.UUID
    email: str
    items: tuple[OrderedItem, ...]
    total_cents: int

    @property
    def aggregate_id(self) -> str:
        return str(self.order_id)

    def data(self) -> dict[str, Any]:
        return {
            "order_id": str(self.order_id),
            "email": self.email,
            "items": [vars(item) for item in self.items],
            "total_cents": self.total_cents,
        }

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any]) -> "OrderEvent":
        """Rebuild the event from the JSON a consumer received; KeyError/ValueError if the
        envelope is not such an event."""
        data = envelope["data"]
        return cls(
            event_id=uuid.UUID(envelope["event_id"]),
            occurred_at=datetime.fromisoformat(envelope["occurred_at"]),
            order_id=uuid.UUID(data["order_id"]),
            email=data["email"],
            items=tuple(OrderedItem(**item) for item in data["items"]),
            total_cents=data["total_cents"],
        )


@dataclass(frozen=True, kw_only=True)
class OrderConfirmed(OrderEvent):
    event_type: ClassVar[str] = "order.confirmed"


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(OrderEvent):
    event_type: ClassVar[str] = "order.cancelled"


ORDER_EVENTS: dict[str, type[OrderEvent]] = {
    event.event_type: event for event in (OrderConfirmed, OrderCancelled)
}
