"""Domain objects -> the JSON shapes of API.md. Money becomes a string only here."""

from typing import Any

from shop.models import Cart, Order
from shop.money import CURRENCY, cents_to_str


def product_dict(row: dict[str, Any]) -> dict[str, Any]:
    """A row of `selectors.product_rows()` -> the product JSON."""
    return {
        "id": row["id"],
        "sku": row["sku"],
        "name": row["name"],
        "description": row["description"],
        "category": row["category__slug"],
        "price": cents_to_str(row["price_cents"]),
        "currency": CURRENCY,
    }


def _item_dict(product, unit_price_cents: int, quantity: int) -> dict[str, Any]:
    return {
        "product_id": product.id,
        "sku": product.sku,
        "name": product.name,
        "unit_price": cents_to_str(unit_price_cents),
        "quantity": quantity,
        "line_total": cents_to_str(unit_price_cents * quantity),
    }


def cart_dict(cart: Cart) -> dict[str, Any]:
    """A cart shows current catalog prices."""
    items = [
        _item_dict(item.product, item.product.price_cents, item.quantity)
        for item in cart.items.all()
    ]
    total_cents = sum(item.product.price_cents * item.quantity for item in cart.items.all())
    return {
        "id": str(cart.id),
        "status": cart.status,
        "items": items,
        "total": cents_to_str(total_cents),
        "currency": CURRENCY,
    }


def order_dict(order: Order) -> dict[str, Any]:
    """An order shows the prices it was placed at."""
    return {
        "id": str(order.id),
        "status": order.status,
        "email": order.email,
        "items": [
            _item_dict(line.product, line.unit_price_cents, line.quantity)
            for line in order.lines.all()
        ],
        "total": cents_to_str(order.total_cents),
        "currency": CURRENCY,
        "created_at": order.created_at.isoformat().replace("+00:00", "Z"),
    }
