"""The contexts' dataclasses -> the JSON shapes of API.md. Money becomes a string only here.

A product's shape lives in kernel.catalog_presenters (product_dict): the catalog service
renders it too.
"""

from typing import Any

from kernel.money import CURRENCY, cents_to_str
from ordering.api import Cart, Line, Order


def _line_dict(line: Line) -> dict[str, Any]:
    return {
        "product_id": line.product_id,
        "sku": line.sku,
        "name": line.name,
        "unit_price": cents_to_str(line.unit_price_cents),
        "quantity": line.quantity,
        "line_total": cents_to_str(line.line_total_cents),
    }


def cart_dict(cart: Cart) -> dict[str, Any]:
    """A cart shows current catalog prices."""
    return {
        "id": str(cart.id),
        "status": cart.status,
        "items": [_line_dict(item) for item in cart.items],
        "total": cents_to_str(cart.total_cents),
        "currency": CURRENCY,
    }


def order_dict(order: Order) -> dict[str, Any]:
    """An order shows the prices it was placed at."""
    return {
        "id": str(order.id),
        "status": order.status,
        "email": order.email,
        "items": [_line_dict(item) for item in order.items],
        "total": cents_to_str(order.total_cents),
        "currency": CURRENCY,
        "created_at": order.created_at.isoformat().replace("+00:00", "Z"),
    }
