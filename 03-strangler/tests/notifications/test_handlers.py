"""Notifications reacts to order events with one email each, however often an event comes."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from kernel.consumer import MalformedEvent
from messaging.models import OutboxMessage
from notifications import handlers
from notifications.models import ProcessedEvent
from ordering import api as ordering_api


def envelopes() -> list[dict]:
    """The events in the outbox, as the relay would publish them."""
    return list(OutboxMessage.objects.order_by("id").values_list("payload", flat=True))


def test_a_confirmed_order_gets_the_confirmation_email(make_product, make_order, mailoutbox):
    kettle = make_product(name="Kettle", sku="KI-0001", price_cents=1250)
    order = make_order([(kettle, 2)], email="ada@example.com")
    [confirmed] = envelopes()

    assert handlers.handle(confirmed) is True

    [email] = mailoutbox
    assert email.to == ["ada@example.com"]
    assert email.subject == f"Your order {order.id} is confirmed"
    assert email.body == (
        f"Order {order.id} (confirmed)\n\n2 x Kettle (KI-0001) at 12.50 EUR\n\nTotal: 25.00 EUR"
    )


def test_an_event_delivered_twice_sends_one_email(make_product, make_order, mailoutbox):
    make_order([(make_product(), 1)])
    [confirmed] = envelopes()

    first = handlers.handle(confirmed)
    again = handlers.handle(confirmed)

    assert (first, again) == (True, False)
    assert len(mailoutbox) == 1
    assert ProcessedEvent.objects.get().event_id == uuid.UUID(confirmed["event_id"])


def test_a_cancelled_order_gets_the_cancellation_email_too(make_product, make_order, mailoutbox):
    order = make_order([(make_product(), 1)])
    ordering_api.cancel_order(order_id=order.id)

    for envelope in envelopes():
        handlers.handle(envelope)

    assert [email.subject for email in mailoutbox] == [
        f"Your order {order.id} is confirmed",
        f"Your order {order.id} is cancelled",
    ]
    assert mailoutbox[1].body.startswith(f"Order {order.id} (cancelled)")


def test_an_email_that_fails_to_send_is_sent_when_the_event_comes_again(
    make_product, make_order, mailoutbox, monkeypatch
):
    make_order([(make_product(), 1)])
    [confirmed] = envelopes()

    def smtp_down(*args, **kwargs):
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(handlers, "send_mail", smtp_down)
        with pytest.raises(ConnectionRefusedError):
            handlers.handle(confirmed)
    assert not ProcessedEvent.objects.exists()  # rolled back with the failed send

    assert handlers.handle(confirmed) is True
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    "envelope",
    [
        {"event_type": "order.shipped", "event_id": str(uuid.uuid4())},
        {"event_type": "order.confirmed", "event_id": "not-a-uuid", "data": {}},
    ],
    ids=["unknown type", "broken body"],
)
def test_a_message_that_is_not_an_order_event_is_malformed(db, envelope, mailoutbox):
    with pytest.raises(MalformedEvent):
        handlers.handle(envelope)

    assert mailoutbox == []


def test_notifications_subscribes_to_every_event_it_has_an_email_for(settings):
    assert set(settings.SHOP_EVENT_SUBSCRIPTIONS["notifications"]) == set(handlers.SUBJECTS)
    assert sorted(binding.routing_key for binding in handlers.queue().bindings) == sorted(
        handlers.SUBJECTS
    )


def test_ids_of_events_handled_long_ago_are_forgotten_recent_ones_kept(
    make_product, make_order, settings
):
    settings.SHOP_PROCESSED_EVENT_RETENTION_DAYS = 30
    make_order([(make_product(), 1)])
    [old] = envelopes()
    handlers.handle(old)
    ProcessedEvent.objects.update(processed_at=timezone.now() - timedelta(days=31))
    make_order([(make_product(), 1)])
    recent = envelopes()[-1]
    handlers.handle(recent)

    assert handlers.forget_old_events() == 1
    assert [str(row.event_id) for row in ProcessedEvent.objects.all()] == [recent["event_id"]]
