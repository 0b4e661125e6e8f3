"""The events of a cancellation by choreography: the orders service asks, the inventory and
the payments services answer, each in its own transaction (see orders/choreography.py).

    order.cancellation_requested  orders -> inventory, payments
    stock.released                inventory -> orders
    payment.refunded              payments -> orders

A contract between services, like order_events.py: each side imports it from here, none
imports another. The request carries the keys the orders service chose (the reservation id
is the saga's id, the refund key `refund-<order id>`, as the orchestrated saga sends them),
so a cancellation done both ways, or twice, releases and refunds once.
"""

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from chassis.events import Event


@dataclass(frozen=True, kw_only=True)
class CancellationEvent(Event):
    """An event of one order's cancellation: the order's id, and strings for the rest."""

    order_id: uuid.UUID

    @property
    def aggregate_id(self) -> str:
        return str(self.order_id)

    def data(self) -> dict[str, Any]:
        return {field.name: str(getattr(self, field.name)) for field in _own_fields(type(self))}

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any]) -> "CancellationEvent":
        """Rebuild the event from the JSON a consumer received; KeyError/ValueError if the
        envelope is not such an event."""
        data = envelope["data"]
        fields = {field.name: str(data[field.name]) for field in _own_fields(cls)}
        fields["order_id"] = uuid.UUID(fields["order_id"])
        return cls(
            event_id=uuid.UUID(envelope["event_id"]),
            occurred_at=datetime.fromisoformat(envelope["occurred_at"]),
            **fields,
        )


def _own_fields(event_class: type) -> list[dataclasses.Field]:
    """The fields that travel in `data` (the envelope carries the id and the time)."""
    envelope = {"event_id", "occurred_at"}
    return [field for field in dataclasses.fields(event_class) if field.name not in envelope]


@dataclass(frozen=True, kw_only=True)
class OrderCancellationRequested(CancellationEvent):
    """A confirmed order is to be cancelled: release its stock, refund its charge."""

    event_type: ClassVar[str] = "order.cancellation_requested"
    reservation_id: str
    charge_id: str
    refund_key: str


@dataclass(frozen=True, kw_only=True)
class StockReleased(CancellationEvent):
    """The inventory gave back the stock of the order's reservation."""

    event_type: ClassVar[str] = "stock.released"
    reservation_id: str


@dataclass(frozen=True, kw_only=True)
class PaymentRefunded(CancellationEvent):
    """The payments service refunded the order's charge."""

    event_type: ClassVar[str] = "payment.refunded"
    charge_id: str
