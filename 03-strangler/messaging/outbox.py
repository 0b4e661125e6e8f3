"""Record a domain event in the outbox, inside the transaction of the change it describes.

Why not publish to the broker right after saving? Because "save, then send" has two failure
windows: the broker is down after the commit (the event is lost, stage 01 logs
`event=email_not_queued`), or the process dies between the two. Writing the event as a row
in the same transaction makes the change and its event one atomic fact; the relay
(`messaging.relay`) publishes it later, retrying for as long as it takes.
"""

from django.db import transaction
from kernel import telemetry
from kernel.events import Event

from .models import OutboxMessage


def record(event: Event) -> None:
    """Add `event` to the outbox. Must run inside the transaction that makes it true."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            f"outbox.record({event.event_type}) outside a transaction: the event would not be "
            "atomic with the change it reports. Call it inside transaction.atomic()."
        )
    OutboxMessage.objects.create(
        event_id=event.event_id,
        event_type=event.event_type,
        aggregate_id=event.aggregate_id,
        payload=event.envelope(),
        traceparent=telemetry.current_traceparent(),
    )
