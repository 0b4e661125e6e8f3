"""The payments service's part in a cancellation by choreography (orders/choreography.py): on
`order.cancellation_requested`, refund the order's charge and say so (`payment.refunded`).

One local transaction, as the inventory's (inventory/cancellations.py): the processed-event
id, the refund and the outbox row of the answer. The refund is keyed by the key the orders
service sent (`refund-<order id>`, the orchestrated saga's too), and refunding a refunded
charge answers it as it is: the customer is refunded once, whichever way, however often the
event comes.
"""

import logging

from chassis import consumer, outbox
from chassis.cancellation_events import OrderCancellationRequested, PaymentRefunded

from . import charges

logger = logging.getLogger(__name__)

CONSUMER = "payments"  # its queue's name, and its rows in ProcessedEvent


@consumer.handler(CONSUMER, OrderCancellationRequested)
def handle(event: OrderCancellationRequested) -> None:
    """Refund the charge of a cancelled order (called with the envelope: see
    chassis.consumer.handler; returns whether it was the event's first delivery)."""
    charge = charges.refund_charge(charge_id=event.charge_id, idempotency_key=event.refund_key)
    outbox.record(PaymentRefunded(order_id=event.order_id, charge_id=str(charge.charge_id)))
    logger.info(
        "event=cancellation_refunded order_id=%s charge_id=%s", event.order_id, charge.charge_id
    )
