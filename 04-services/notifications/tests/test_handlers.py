"""Notifications reacts to order events with one email each, however often an event comes."""

import uuid
from datetime import timedelta

import pytest
from chassis.consumer import MalformedEvent
from chassis.models import ProcessedEvent
from chassis.order_events import OrderCancelled, OrderConfirmed, OrderedItem
from django.utils import timezone

from notifications import handlers

from .events import an_order_event


def test_a_confirmed_order_gets_the_confirmation_email(db, mailoutbox):
    event = an_order_event(
        OrderConfirmed,
        email="ada@example.com",
        items=(
            OrderedItem(
                product_id=1, sku="KI-0001", name="Kettle", unit_price_cents=1250, quantity=2
            ),
            OrderedItem(
                product_id=2, sku="BK-0002", name="Atlas", unit_price_cents=499, quantity=1
            ),
        ),
    )

    assert handlers.handle(event.envelope()) is True

    [email] = mailoutbox
    assert email.to == ["ada@example.com"]
    assert email.from_email == "shop@example.com"
    assert email.subject == f"Your order {event.order_id} is confirmed"
    assert email.body == (
        f"Order {event.order_id} (confirmed)\n\n"
        "2 x Kettle (KI-0001) at 12.50 EUR\n"
        "1 x Atlas (BK-0002) at 4.99 EUR\n\n"
        "Total: 29.99 EUR"
    )


def test_an_event_delivered_twice_sends_one_email(db, mailoutbox):
    envelope = an_order_event(OrderConfirmed).envelope()

    first = handlers.handle(envelope)
    again = handlers.handle(envelope)

    assert (first, again) == (True, False)
    assert len(mailoutbox) == 1
    processed = ProcessedEvent.objects.get()
    assert (processed.consumer, processed.event_id) == (
        "notifications",
        uuid.UUID(envelope["event_id"]),
    )


def test_a_cancelled_order_gets_the_cancellation_email_too(db, mailoutbox):
    order_id = uuid.uuid4()

    for event_class in (OrderConfirmed, OrderCancelled):
        handlers.handle(an_order_event(event_class, order_id=order_id).envelope())

    assert [email.subject for email in mailoutbox] == [
        f"Your order {order_id} is confirmed",
        f"Your order {order_id} is cancelled",
    ]
    assert mailoutbox[1].body.startswith(f"Order {order_id} (cancelled)")


def test_an_email_that_fails_to_send_is_sent_when_the_event_comes_again(
    db, mailoutbox, monkeypatch
):
    envelope = an_order_event(OrderConfirmed).envelope()

    def smtp_down(*args, **kwargs):
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(handlers, "send_mail", smtp_down)
        with pytest.raises(ConnectionRefusedError):
            handlers.handle(envelope)
    assert not ProcessedEvent.objects.exists()  # rolled back with the failed send

    assert handlers.handle(envelope) is True
    assert len(mailoutbox) == 1


def test_another_consumers_record_of_an_event_does_not_stop_this_one(db, mailoutbox):
    envelope = an_order_event(OrderConfirmed).envelope()
    ProcessedEvent.objects.create(
        consumer="analytics", event_id=envelope["event_id"], event_type="order.confirmed"
    )

    assert handlers.handle(envelope) is True
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    "envelope",
    [
        {"event_type": "order.shipped", "event_id": str(uuid.uuid4())},
        {"event_type": "order.confirmed", "event_id": "not-a-uuid", "data": {}},
        {**an_order_event(OrderConfirmed).envelope(), "data": {"order_id": "x"}},
        {"no": "event at all"},
    ],
    ids=["unknown type", "broken id", "broken data", "not an envelope"],
)
def test_a_message_that_is_not_an_order_event_is_malformed(db, envelope, mailoutbox):
    with pytest.raises(MalformedEvent):
        handlers.handle(envelope)

    assert mailoutbox == []
    assert not ProcessedEvent.objects.exists()


def test_notifications_subscribes_to_every_event_it_has_an_email_for(settings):
    assert set(settings.SHOP_EVENT_SUBSCRIPTIONS["notifications"]) == set(handlers.SUBJECTS)
    assert sorted(binding.routing_key for binding in handlers.queue().bindings) == sorted(
        handlers.SUBJECTS
    )


def test_ids_of_events_handled_long_ago_are_forgotten_recent_ones_kept(db, settings):
    settings.SHOP_PROCESSED_EVENT_RETENTION_DAYS = 30
    old, recent = an_order_event(OrderConfirmed), an_order_event(OrderConfirmed)
    handlers.handle(old.envelope())
    ProcessedEvent.objects.update(processed_at=timezone.now() - timedelta(days=31))
    handlers.handle(recent.envelope())

    assert handlers.forget_old_events() == 1
    assert [row.event_id for row in ProcessedEvent.objects.all()] == [recent.event_id]
