"""A confirmed order's cancellation by choreography: the same undoing as `sagas.cancel`, with
no one calling anyone. The orders service records one event; the others react to it.

    orders     request: Cancellation row + outbox `order.cancellation_requested` (one transaction)
    inventory  on it: release the stock + outbox `stock.released`       (inventory/cancellations.py)
    payments   on it: refund the charge + outbox `payment.refunded`     (payments/cancellations.py)
    orders     on each answer: note it; on the second, the order cancelled + outbox
               `order.cancelled` (the email), the saga ended        (`handle`, below)

Every step is one local transaction with its outbox row, every consumer remembers the events
it handled (chassis.consumer.first_delivery), and every event waits in its consumer's durable
queue while that consumer is down: nothing is lost and nothing is done twice, and nobody
needs a recovery process. What it gives up: no single place says how far a cancellation
got. The `Cancellation` row knows which answers came back; why one did not (a consumer
down, an event dead-lettered, an outbox not yet relayed) is in the other services' logs,
queues and tables.

Which way a cancellation goes is settings.SHOP_CANCELLATION (orders.cancel). The two can
meet, and the saga's row decides between them: a cancellation by events ends the saga
(confirmed -> cancelled) only with a compare-and-set from `confirmed`, so if the
orchestrated cancel took the saga first, that one cancels the order and sends its event,
and this one only notes that it is done. Both send the same keys (the reservation id, the
refund key), so the stock is released and the charge refunded once.
"""

import logging
import time

from chassis import consumer, deadlines, outbox
from chassis.cancellation_events import (
    OrderCancellationRequested,
    PaymentRefunded,
    StockReleased,
)
from chassis.errors import ServiceUnavailable
from chassis.order_events import OrderCancelled
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import sagas
from .models import Cancellation, CheckoutSaga, Order

logger = logging.getLogger(__name__)

CONSUMER = "orders"  # its queue's name, and its rows in ProcessedEvent
# Which field of the Cancellation row each answer fills in.
ANSWERED_AT = {
    StockReleased.event_type: "stock_released_at",
    PaymentRefunded.event_type: "payment_refunded_at",
}
UNDER_WAY = (
    "The cancellation of order {order_id} is under way: the stock and the payment are being "
    "given back. Ask again shortly to get the cancelled order."
)


def cancel(order: Order) -> Order:
    """Ask for the order's cancellation (once, however often this is called), then wait,
    within the request's budget, for the answers to cancel it. Returns the cancelled order;
    ServiceUnavailable when the answers take longer (the cancellation goes on: asking again
    waits again, and returns the order once it is cancelled)."""
    request(order)
    if not wait_until_cancelled(order):
        raise ServiceUnavailable(UNDER_WAY.format(order_id=order.id))
    order.refresh_from_db()
    return order


def request(order: Order) -> bool:
    """Record the cancellation and its event, in one transaction; whether this call did (a
    second one finds the row, and an order whose saga the orchestrated cancel has already
    taken is left to it)."""
    with transaction.atomic():
        saga = CheckoutSaga.objects.select_for_update().get(order=order)
        if saga.state != CheckoutSaga.State.CONFIRMED:
            return False
        _, created = Cancellation.objects.get_or_create(order=order)
        if created:
            outbox.record(
                OrderCancellationRequested(
                    order_id=order.id,
                    reservation_id=saga.reservation_id,
                    charge_id=saga.charge_id,
                    refund_key=saga.refund_key,
                )
            )
    if created:
        logger.info("event=cancellation_requested order=%s", order.id)
    return created


def wait_until_cancelled(order: Order) -> bool:
    """Wait for the order to be cancelled, within the request's budget; whether it was."""
    seconds = settings.SHOP_GRPC_TIMEOUT * sagas.WAIT_CALLS
    left = deadlines.remaining()
    if left is not None:
        seconds = min(seconds, left - settings.SHOP_GRPC_DEADLINE_MARGIN)
    deadline = time.monotonic() + seconds
    cancelled = Order.objects.filter(pk=order.pk, status=Order.Status.CANCELLED)
    while not cancelled.exists():
        if time.monotonic() >= deadline:
            return False
        time.sleep(sagas.POLL_SECONDS)
    return True


@consumer.handler(CONSUMER, StockReleased, PaymentRefunded)
def handle(event: StockReleased | PaymentRefunded) -> None:
    """Note an answer to a cancellation (stock released, payment refunded); with both in,
    cancel the order. Called with the envelope, once per event (chassis.consumer.handler)."""
    cancellation = Cancellation.objects.select_for_update().filter(order_id=event.order_id).first()
    if cancellation is None:
        raise consumer.MalformedEvent(f"no cancellation of order {event.order_id} was asked for")
    field = ANSWERED_AT[event.event_type]
    if getattr(cancellation, field) is None:
        setattr(cancellation, field, timezone.now())
    answered = cancellation.stock_released_at and cancellation.payment_refunded_at
    if answered and cancellation.completed_at is None:
        _complete(cancellation)
    cancellation.save()
    logger.info(
        "event=cancellation_answered order=%s answer=%s completed=%s",
        event.order_id,
        event.event_type,
        cancellation.completed_at is not None,
    )


def _complete(cancellation: Cancellation) -> None:
    """Both answers are in: end the saga, cancel the order, record `order.cancelled`; unless
    the orchestrated cancel has the saga (it does that itself)."""
    cancellation.completed_at = timezone.now()
    order = (
        Order.objects.prefetch_related("lines").select_related("saga").get(pk=cancellation.order_id)
    )
    try:
        if order.saga.state != CheckoutSaga.State.CONFIRMED:
            raise sagas.TakenOver()
        sagas.move(
            order.saga,
            state=CheckoutSaga.State.CANCELLED,
            step=CheckoutSaga.Step.DONE,
            ended_at=cancellation.completed_at,
        )
    except sagas.TakenOver:
        logger.info("event=cancellation_left_to_the_saga order=%s", order.id)
        return
    order.status, order.cancelled_at = Order.Status.CANCELLED, cancellation.completed_at
    order.save(update_fields=["status", "cancelled_at"])
    outbox.record(sagas._event(OrderCancelled, order))
    logger.info("event=order_cancelled order=%s by=choreography", order.id)
