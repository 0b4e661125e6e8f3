"""What notifications does with each event it receives: one email per order event, once."""

import logging
from datetime import timedelta
from typing import Any

from chassis import broker, consumer
from chassis.models import ProcessedEvent
from chassis.money import CURRENCY, cents_to_str
from chassis.order_events import ORDER_EVENTS, OrderCancelled, OrderConfirmed, OrderEvent
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from kombu import Queue

logger = logging.getLogger(__name__)

CONSUMER = "notifications"  # its queue's name, and its rows in ProcessedEvent
SUBJECTS = {
    OrderConfirmed.event_type: "Your order {id} is confirmed",
    OrderCancelled.event_type: "Your order {id} is cancelled",
}
STATUSES = {OrderConfirmed.event_type: "confirmed", OrderCancelled.event_type: "cancelled"}


def queue() -> Queue:
    """The durable queue of this consumer: the order events it subscribes to in settings
    (SHOP_EVENT_SUBSCRIPTIONS), the ones it has an email for."""
    return broker.subscribed_queue(CONSUMER)


@transaction.atomic
def handle(envelope: dict[str, Any]) -> bool:
    """Send the email an order event calls for, unless this event was handled before;
    returns whether an email went out.

    The processed-event row and the email share one transaction: if sending fails, the row
    is rolled back and the redelivered event tries again. Two deliveries racing each other
    meet at the unique index, and the second finds the event taken.
    """
    event: OrderEvent = consumer.parse(envelope, ORDER_EVENTS)
    if not consumer.first_delivery(CONSUMER, event):
        return False
    send_mail(
        SUBJECTS[event.event_type].format(id=event.order_id), _body(event), None, [event.email]
    )
    logger.info(
        "event=email_sent event_type=%s event_id=%s order_id=%s",
        event.event_type,
        event.event_id,
        event.order_id,
    )
    return True


def forget_old_events() -> int:
    """Delete the ids of events handled more than SHOP_PROCESSED_EVENT_RETENTION_DAYS ago;
    returns how many. That retention is longer than anything can deliver an event again (a
    relay retry: seconds; a redelivery after an outage: as long as it lasts; a replay from
    the outbox: while its row is kept, SHOP_OUTBOX_RETENTION_DAYS), so a duplicate is still
    recognised. The consumer runs this once an hour (consume_events)."""
    older_than = timedelta(days=settings.SHOP_PROCESSED_EVENT_RETENTION_DAYS)
    old = ProcessedEvent.objects.filter(
        consumer=CONSUMER, processed_at__lt=timezone.now() - older_than
    )
    deleted = old.delete()[0]
    if deleted:
        logger.info("event=processed_events_pruned deleted=%d older_than=%s", deleted, older_than)
    return deleted


def _body(event: OrderEvent) -> str:
    """The email's text: the same as stage 01's, written from the event alone."""
    return "\n".join(
        [
            f"Order {event.order_id} ({STATUSES[event.event_type]})",
            "",
            *(
                f"{item.quantity} x {item.name} ({item.sku}) "
                f"at {cents_to_str(item.unit_price_cents)} {CURRENCY}"
                for item in event.items
            ),
            "",
            f"Total: {cents_to_str(event.total_cents)} {CURRENCY}",
        ]
    )
