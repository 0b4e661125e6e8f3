"""The services' gRPC messages -> the JSON shapes of API.md. Money becomes a string only here.

The messages carry integer cents and a protobuf Timestamp; the API shows two-decimal strings
beside "EUR" and ISO 8601 times in UTC, as every stage does.
"""

from datetime import UTC
from typing import Any

from chassis.money import CURRENCY, cents_to_str
from shop.catalog.v1 import catalog_pb2
from shop.orders.v1 import orders_pb2


def product_dict(product: catalog_pb2.Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "price": cents_to_str(product.price_cents),
        "currency": CURRENCY,
    }


def _line_dict(line: orders_pb2.Line) -> dict[str, Any]:
    return {
        "product_id": line.product_id,
        "sku": line.sku,
        "name": line.name,
        "unit_price": cents_to_str(line.unit_price_cents),
        "quantity": line.quantity,
        "line_total": cents_to_str(line.line_total_cents),
    }


def cart_dict(cart: orders_pb2.Cart) -> dict[str, Any]:
    """A cart shows current catalog prices."""
    return {
        "id": cart.id,
        "status": cart.status,
        "items": [_line_dict(item) for item in cart.items],
        "total": cents_to_str(cart.total_cents),
        "currency": CURRENCY,
    }


def order_dict(order: orders_pb2.Order) -> dict[str, Any]:
    """An order shows the prices it was placed at."""
    created_at = order.created_at.ToDatetime(tzinfo=UTC)
    return {
        "id": order.id,
        "status": order.status,
        "email": order.email,
        "items": [_line_dict(item) for item in order.items],
        "total": cents_to_str(order.total_cents),
        "currency": CURRENCY,
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
    }
