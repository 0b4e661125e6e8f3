"""The payments service's part in a cancellation by choreography (payments/cancellations.py):
the order's charge refunded, and `payment.refunded` in the outbox, once per event and once
per charge."""

import uuid

import pytest
from chassis.cancellation_events import OrderCancellationRequested
from chassis.models import OutboxMessage, ProcessedEvent

from payments import cancellations, charges, provider
from payments.models import Charge

pytestmark = pytest.mark.django_db


@pytest.fixture
def refunds(monkeypatch) -> list[str]:
    """The provider reference of every refund the provider is asked for."""
    asked: list[str] = []
    refund = provider.refund

    def counted(**request) -> None:
        asked.append(request["reference"])
        return refund(**request)

    monkeypatch.setattr(provider, "refund", counted)
    return asked


def a_request_for_a_charge() -> tuple[OrderCancellationRequested, Charge]:
    order_id = uuid.uuid4()
    charge = charges.create_charge(
        idempotency_key=f"charge-{order_id}",
        order_id=str(order_id),
        amount_cents=2500,
        payment_token="tok_visa",
    )
    event = OrderCancellationRequested(
        order_id=order_id,
        reservation_id=str(uuid.uuid4()),
        charge_id=str(charge.charge_id),
        refund_key=f"refund-{order_id}",
    )
    return event, charge


def test_a_cancellation_refunds_the_charge_once_however_often_it_comes(refunds):
    event, charge = a_request_for_a_charge()

    first = cancellations.handle(event.envelope())
    again = cancellations.handle(event.envelope())

    assert (first, again) == (True, False)
    charge.refresh_from_db()
    assert charge.status == Charge.Status.REFUNDED
    assert charge.refund_idempotency_key == event.refund_key
    assert refunds == [charge.provider_reference]
    [answer] = OutboxMessage.objects.all()
    assert answer.event_type == "payment.refunded"
    assert answer.payload["data"] == {
        "order_id": str(event.order_id),
        "charge_id": str(charge.charge_id),
    }


def test_a_charge_the_orchestrated_cancel_refunded_is_not_refunded_again(refunds):
    event, charge = a_request_for_a_charge()
    charges.refund_charge(charge_id=str(charge.charge_id), idempotency_key=event.refund_key)

    assert cancellations.handle(event.envelope()) is True

    assert len(refunds) == 1
    assert OutboxMessage.objects.get().event_type == "payment.refunded"


def test_a_refund_that_fails_leaves_nothing_behind_and_the_next_delivery_refunds(monkeypatch):
    event, charge = a_request_for_a_charge()
    refund = provider.refund

    def unreachable(**request) -> None:
        raise OSError("the provider did not answer")

    monkeypatch.setattr(provider, "refund", unreachable)
    with pytest.raises(OSError):
        cancellations.handle(event.envelope())

    charge.refresh_from_db()
    assert charge.status == Charge.Status.APPROVED
    assert not OutboxMessage.objects.exists()
    assert not ProcessedEvent.objects.exists()  # so the event's next delivery is a first one

    monkeypatch.setattr(provider, "refund", refund)
    assert cancellations.handle(event.envelope()) is True
    charge.refresh_from_db()
    assert charge.status == Charge.Status.REFUNDED
