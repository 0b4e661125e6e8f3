"""The fake payment provider: approves or declines by token (Stripe-like test tokens).

It stands in for a real provider. The charge it records is written in the caller's database
transaction, so a crash mid-checkout rolls back both: no charge without an order. Stage 04
has to earn that guarantee with a saga.
"""

import uuid

from kernel.errors import PaymentDeclined

APPROVED_TOKENS = frozenset({"tok_visa", "tok_mastercard"})
DECLINED_TOKENS = frozenset({"tok_chargeDeclined"})
KNOWN_TOKENS = APPROVED_TOKENS | DECLINED_TOKENS


def authorize(*, token: str) -> str:
    """Ask the provider to take the money; returns its reference, or raises PaymentDeclined."""
    if token not in APPROVED_TOKENS:
        raise PaymentDeclined()
    return f"ch_{uuid.uuid4().hex}"
