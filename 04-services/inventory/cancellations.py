"""The inventory's part in a cancellation by choreography (orders/choreography.py): on
`order.cancellation_requested`, give the order's stock back and say so (`stock.released`).

One local transaction: the processed-event id, the release and the outbox row of the answer
commit together or not at all. A second delivery finds the id and changes nothing; a crash
before the commit leaves the event to be delivered again (RabbitMQ redelivers what was not
acked). The release is keyed by the reservation id the orders service sent (its saga's id),
as the orchestrated saga's Release is: a cancellation done both ways gives the stock back
once.
"""

import logging

from chassis import consumer, outbox
from chassis.cancellation_events import OrderCancellationRequested, StockReleased

from . import stock

logger = logging.getLogger(__name__)

CONSUMER = "inventory"  # its queue's name, and its rows in ProcessedEvent


@consumer.handler(CONSUMER, OrderCancellationRequested)
def handle(event: OrderCancellationRequested) -> None:
    """Release the reservation of a cancelled order (called with the envelope: see
    chassis.consumer.handler; returns whether it was the event's first delivery)."""
    reservation = stock.release(reservation_id=event.reservation_id)
    outbox.record(StockReleased(order_id=event.order_id, reservation_id=event.reservation_id))
    logger.info(
        "event=cancellation_stock_released order_id=%s reservation_id=%s status=%s",
        event.order_id,
        event.reservation_id,
        reservation.status,
    )
