"""Ordering's public interface: carts, checkout, orders. Dataclasses out, never models.

A cart shows the catalog's current prices (one batched catalog call per cart, whatever its
size); an order shows the prices it was placed at (from its own snapshot, no catalog call).
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from catalog import api as catalog_api

from . import carts, checkout
from .carts import MAX_LINE_QUANTITY
from .models import Cart as CartRow
from .models import Order as OrderRow
from .models import OrderLine

__all__ = [
    "MAX_LINE_QUANTITY",
    "Cart",
    "Line",
    "Order",
    "cancel_order",
    "cart_add_item",
    "cart_create",
    "cart_get",
    "cart_remove_item",
    "cart_set_item_quantity",
    "order_get",
    "place_order",
]


@dataclass(frozen=True)
class Line:
    """A product in a cart or an order, with the price it costs (cart) or cost (order)."""

    product_id: int
    sku: str
    name: str
    unit_price_cents: int
    quantity: int

    @property
    def line_total_cents(self) -> int:
        return self.unit_price_cents * self.quantity


@dataclass(frozen=True)
class Cart:
    id: uuid.UUID
    status: str
    items: tuple[Line, ...]

    @property
    def total_cents(self) -> int:
        return sum(item.line_total_cents for item in self.items)


@dataclass(frozen=True)
class Order:
    id: uuid.UUID
    status: str
    email: str
    items: tuple[Line, ...]
    total_cents: int
    created_at: datetime


# --- carts -----------------------------------------------------------------------------------
def cart_create() -> Cart:
    return _cart(carts.create())


def cart_get(*, cart_id: uuid.UUID) -> Cart:
    """The cart with current catalog prices: three queries (cart, items, products)."""
    return _cart(carts.get(cart_id=cart_id))


def cart_add_item(*, cart_id: uuid.UUID, product_id: int, quantity: int) -> Cart:
    carts.add_item(cart_id=cart_id, product_id=product_id, quantity=quantity)
    return cart_get(cart_id=cart_id)


def cart_set_item_quantity(*, cart_id: uuid.UUID, product_id: int, quantity: int) -> Cart:
    carts.set_item_quantity(cart_id=cart_id, product_id=product_id, quantity=quantity)
    return cart_get(cart_id=cart_id)


def cart_remove_item(*, cart_id: uuid.UUID, product_id: int) -> Cart:
    carts.remove_item(cart_id=cart_id, product_id=product_id)
    return cart_get(cart_id=cart_id)


# --- orders ----------------------------------------------------------------------------------
def place_order(*, cart_id: uuid.UUID, email: str, payment_token: str) -> Order:
    """Check the cart out (see ordering.checkout); raises OutOfStock, PaymentDeclined,
    CartClosed or ValidationFailed, and then nothing has changed."""
    order, lines = checkout.place_order(cart_id=cart_id, email=email, payment_token=payment_token)
    return _order(order, lines)


def order_get(*, order_id: uuid.UUID) -> Order:
    order = checkout.get(order_id=order_id)
    return _order(order, order.lines.all())


def cancel_order(*, order_id: uuid.UUID) -> Order:
    checkout.cancel_order(order_id=order_id)
    return order_get(order_id=order_id)


# --- models -> dataclasses -------------------------------------------------------------------
def _cart(cart: CartRow) -> Cart:
    items = list(cart.items.all())
    products = catalog_api.products_get_many(product_ids=[item.product_id for item in items])
    return Cart(
        id=cart.id,
        status=cart.status,
        items=tuple(
            Line(
                product_id=item.product_id,
                sku=products[item.product_id].sku,
                name=products[item.product_id].name,
                unit_price_cents=products[item.product_id].price_cents,
                quantity=item.quantity,
            )
            for item in items
            if item.product_id in products  # the catalog deletes nothing; if it ever does, the
            # line disappears from the cart view and checkout refuses the cart (see checkout)
        ),
    )


def _order(order: OrderRow, lines: Iterable[OrderLine]) -> Order:
    return Order(
        id=order.id,
        status=order.status,
        email=order.email,
        items=tuple(Line(**line.snapshot()) for line in sorted(lines, key=lambda line: line.id)),
        total_cents=order.total_cents,
        created_at=order.created_at,
    )
