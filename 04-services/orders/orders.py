"""Orders as callers see them: look one up, cancel one.

Only confirmed and cancelled orders exist for callers; a pending order (a checkout under
way) and a failed one (a checkout undone) are the saga's business and answer NotFound. An
order reads from its own snapshot, with no call to the catalog.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from chassis.errors import NotFound, ShopError
from django.conf import settings

from . import choreography, sagas
from .carts import Line
from .models import Order as OrderRow

VISIBLE = (OrderRow.Status.CONFIRMED, OrderRow.Status.CANCELLED)


@dataclass(frozen=True)
class PlacedOrder:
    """A confirmed or cancelled order as callers see it (the model is models.Order)."""

    id: uuid.UUID
    status: str
    email: str
    items: tuple[Line, ...]
    total_cents: int
    created_at: datetime


def get(*, order_id: uuid.UUID) -> PlacedOrder:
    """A confirmed or cancelled order with its lines: two queries, whatever its size."""
    return view(_visible(order_id))


def cancel(*, order_id: uuid.UUID) -> PlacedOrder:
    """Refund, return the stock, mark cancelled (sagas.cancel). Cancelling a cancelled order
    answers it again. A cancellation left half-way (a service down) is finished by the next
    call, or by the recovery; one that another request is running is waited for. With
    SHOP_CANCELLATION=choreographed, the same by events instead (choreography.cancel)."""
    order = _visible(order_id)
    if order.status == OrderRow.Status.CANCELLED:
        return view(order)
    if settings.SHOP_CANCELLATION == "choreographed":  # by events instead: choreography.py
        return view(choreography.cancel(order))
    saga = order.saga
    try:
        sagas.cancel(saga)
    except sagas.TakenOver:
        if not sagas.wait_for_end(saga.pk):
            raise
    except ShopError as error:  # a service is down: the saga stays where it is
        sagas.note_error(saga, error)
        raise
    return get(order_id=order_id)


def view(order: OrderRow) -> PlacedOrder:
    return PlacedOrder(
        id=order.id,
        status=order.status,
        email=order.email,
        items=tuple(Line(**line.snapshot()) for line in order.lines.all()),
        total_cents=order.total_cents,
        created_at=order.created_at,
    )


def _visible(order_id: uuid.UUID) -> OrderRow:
    order = (
        OrderRow.objects.select_related("saga")
        .prefetch_related("lines")
        .filter(id=order_id, status__in=VISIBLE)
        .first()
    )
    if order is None:
        raise NotFound(f"No order with id {order_id}.")
    return order
