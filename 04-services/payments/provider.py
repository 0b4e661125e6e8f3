"""The fake payment provider: approves or declines by token (Stripe-like test tokens).

It stands in for a real provider, as at stage 03, and knows the same tokens (API.md):
tok_visa and tok_mastercard are approved, tok_chargeDeclined is declined. A real provider
would also take the charge's idempotency key (Stripe's Idempotency-Key header), so that a
charge whose answer was lost in a crash could be asked for again without paying twice;
this one has nothing to lose.
"""

import uuid

from chassis.errors import PaymentDeclined

APPROVED_TOKENS = frozenset({"tok_visa", "tok_mastercard"})
DECLINED_TOKENS = frozenset({"tok_chargeDeclined"})
KNOWN_TOKENS = APPROVED_TOKENS | DECLINED_TOKENS


def authorize(*, token: str, amount_cents: int, idempotency_key: str) -> str:
    """Ask the provider to take the money; returns its reference, or raises PaymentDeclined."""
    if token not in APPROVED_TOKENS:
        raise PaymentDeclined()
    return f"ch_{uuid.uuid4().hex}"


def refund(*, reference: str) -> None:
    """Ask the provider to give the money of charge `reference` back (the fake always can)."""
