"""The inventory's part in a cancellation by choreography (inventory/cancellations.py): the
stock of the order's reservation back, and `stock.released` in the outbox, once per event."""

import uuid

import pytest
from chassis.cancellation_events import OrderCancellationRequested
from chassis.consumer import MalformedEvent
from chassis.models import OutboxMessage, ProcessedEvent

from inventory import cancellations, stock

from .conftest import stock_level, stock_of

pytestmark = pytest.mark.django_db


def a_request(reservation_id: str) -> OrderCancellationRequested:
    order_id = uuid.uuid4()
    return OrderCancellationRequested(
        order_id=order_id,
        reservation_id=reservation_id,
        charge_id=str(uuid.uuid4()),
        refund_key=f"refund-{order_id}",
    )


def a_sold_reservation(units: int) -> str:
    reservation_id = str(uuid.uuid4())
    stock.reserve(reservation_id=reservation_id, lines=[(1, units)])
    stock.commit(reservation_id=reservation_id)
    return reservation_id


def test_a_cancellation_returns_the_stock_and_says_so_once_however_often_it_comes():
    stock_level(1, 10)
    event = a_request(a_sold_reservation(3))
    assert stock_of(1) == 7

    first = cancellations.handle(event.envelope())
    again = cancellations.handle(event.envelope())

    assert (first, again) == (True, False)
    assert stock_of(1) == 10
    [answer] = OutboxMessage.objects.all()
    assert answer.event_type == "stock.released"
    assert answer.payload["data"] == {
        "order_id": str(event.order_id),
        "reservation_id": event.reservation_id,
    }
    assert ProcessedEvent.objects.get().consumer == "inventory"


def test_stock_the_orchestrated_cancel_returned_already_is_not_returned_again():
    stock_level(1, 10)
    reservation_id = a_sold_reservation(3)
    stock.release(reservation_id=reservation_id)  # the saga's Release, the same key

    assert cancellations.handle(a_request(reservation_id).envelope()) is True

    assert stock_of(1) == 10
    assert OutboxMessage.objects.get().event_type == "stock.released"


def test_an_event_that_is_no_cancellation_is_refused_for_the_dead_letters():
    envelope = a_request(str(uuid.uuid4())).envelope()
    envelope["event_type"] = "order.confirmed"

    with pytest.raises(MalformedEvent):
        cancellations.handle(envelope)
    assert not ProcessedEvent.objects.exists()
