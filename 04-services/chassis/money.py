"""Money at the edge: integer cents inside, a two-decimal string outside. Never a float."""

from decimal import Decimal

CURRENCY = "EUR"


def cents_to_str(cents: int) -> str:
    """1250 -> "12.50"."""
    return f"{cents // 100}.{cents % 100:02d}"


def decimal_to_cents(amount: Decimal) -> int:
    """Decimal("12.50") -> 1250; the caller has already limited it to two decimal places."""
    return int(amount.scaleb(2).to_integral_value())
