"""Payments' public interface: charge an order's total, refund it, know the test tokens."""

import uuid
from dataclasses import dataclass

from django.utils import timezone

from . import provider
from .models import Charge


@dataclass(frozen=True)
class Receipt:
    order_id: uuid.UUID
    amount_cents: int
    provider_reference: str
    status: str


# The provider's test tokens, for the API's schema to list.
KNOWN_TOKENS = provider.KNOWN_TOKENS


def is_known_token(token: str) -> bool:
    """Whether the provider knows this token at all (an unknown one is a validation error)."""
    return token in provider.KNOWN_TOKENS


def charge(*, order_id: uuid.UUID, amount_cents: int, token: str) -> Receipt:
    """Charge `amount_cents` for an order; raises PaymentDeclined for a declined token.

    Call it inside the checkout's transaction: a rollback there removes the charge too.
    """
    reference = provider.authorize(token=token)
    row = Charge.objects.create(
        order_id=order_id,
        amount_cents=amount_cents,
        token=token,
        provider_reference=reference,
        status=Charge.Status.SUCCEEDED,
    )
    return _receipt(row)


def refund(*, order_id: uuid.UUID) -> Receipt:
    """Refund an order's charge in full; refunding twice changes nothing."""
    row = Charge.objects.select_for_update().get(order_id=order_id)
    if row.status != Charge.Status.REFUNDED:
        row.status = Charge.Status.REFUNDED
        row.refunded_at = timezone.now()
        row.save(update_fields=["status", "refunded_at"])
    return _receipt(row)


def _receipt(row: Charge) -> Receipt:
    return Receipt(
        order_id=row.order_id,
        amount_cents=row.amount_cents,
        provider_reference=row.provider_reference,
        status=row.status,
    )
