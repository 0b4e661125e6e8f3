"""The fake payment provider: approves or declines by token, and records each charge.

It stands in for a real provider (Stripe-like test tokens). At this stage it writes its
charge in the same database transaction as the order, so a crash mid-checkout rolls back
both: no charge without an order. Stage 04 has to earn that guarantee with a saga.
"""

import uuid

from django.utils import timezone

from .errors import PaymentDeclined
from .models import Charge, Order

APPROVED_TOKENS = frozenset({"tok_visa", "tok_mastercard"})
DECLINED_TOKENS = frozenset({"tok_chargeDeclined"})
KNOWN_TOKENS = APPROVED_TOKENS | DECLINED_TOKENS


def is_known_token(token: str) -> bool:
    return token in KNOWN_TOKENS


def charge(*, order: Order, token: str) -> Charge:
    """Charge the order's total; raises PaymentDeclined for a declined token."""
    if token not in APPROVED_TOKENS:
        raise PaymentDeclined()
    return Charge.objects.create(
        order=order,
        amount_cents=order.total_cents,
        token=token,
        provider_reference=f"ch_{uuid.uuid4().hex}",
        status=Charge.Status.SUCCEEDED,
    )


def refund(*, charge: Charge) -> None:
    """Refund a charge in full; refunding twice is a no-op."""
    if charge.status == Charge.Status.REFUNDED:
        return
    charge.status = Charge.Status.REFUNDED
    charge.refunded_at = timezone.now()
    charge.save(update_fields=["status", "refunded_at"])
