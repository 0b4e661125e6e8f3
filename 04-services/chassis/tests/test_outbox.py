"""The transactional outbox: an event row commits with its change, or not at all."""

import uuid

import pytest
from django.db import transaction

from chassis import outbox
from chassis.models import OutboxMessage
from chassis.order_events import OrderConfirmed

from .things import ThingHappened, order_event


@pytest.mark.django_db
def test_an_event_recorded_inside_a_transaction_is_a_row_holding_its_envelope():
    event = ThingHappened(thing_id=7)

    with transaction.atomic():
        outbox.record(event)

    row = OutboxMessage.objects.get()
    assert (row.event_id, row.event_type, row.aggregate_id) == (
        event.event_id,
        "thing.happened",
        "7",
    )
    assert row.payload == event.envelope()
    assert row.payload["data"] == {"thing_id": 7}
    assert row.published_at is None


@pytest.mark.django_db
def test_the_event_row_is_rolled_back_with_the_change_it_reports():
    with pytest.raises(RuntimeError, match="the process died"), transaction.atomic():
        outbox.record(ThingHappened(thing_id=1))
        assert OutboxMessage.objects.count() == 1  # written inside the transaction...
        raise RuntimeError("the process died before the commit")

    # ...and gone with it: no event can ever be published for a change that did not happen.
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db(transaction=True)  # autocommit, as outside any use case
def test_recording_outside_a_transaction_is_refused():
    event = order_event(OrderConfirmed, uuid.uuid4())

    with pytest.raises(
        RuntimeError, match=r"outbox.record\(order.confirmed\) outside a transaction"
    ):
        outbox.record(event)

    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_an_order_event_read_back_from_the_outbox_is_the_event_recorded():
    # What a consumer gets is the stored JSON: it must rebuild the very event, to the item.
    confirmed = order_event(OrderConfirmed, uuid.uuid4())

    with transaction.atomic():
        outbox.record(confirmed)

    stored = OutboxMessage.objects.get()
    assert stored.aggregate_id == str(confirmed.order_id)
    assert OrderConfirmed.from_envelope(stored.payload) == confirmed
