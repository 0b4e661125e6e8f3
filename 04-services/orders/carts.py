"""Carts: open a cart, put products in it, change or remove them, read it with current prices.

A cart stores product ids and quantities only; names and prices are the catalog's, read
live with one BatchGetProducts per cart read, whatever the cart's size. Stock is not
checked here (API.md): only checkout reserves.
"""

import uuid
from dataclasses import dataclass

from chassis.errors import CartClosed, NotFound, ValidationFailed
from django.db import transaction
from django.db.models import Prefetch

from . import remote
from .models import Cart as CartRow
from .models import CartItem, Order

MAX_LINE_QUANTITY = 99


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


def create() -> Cart:
    return Cart(id=CartRow.objects.create().id, status=CartRow.Status.OPEN, items=())


def get(*, cart_id: uuid.UUID) -> Cart:
    """The cart with current catalog prices: two queries and one catalog call."""
    items = Prefetch("items", queryset=CartItem.objects.order_by("id"))
    cart = CartRow.objects.prefetch_related(items).filter(id=cart_id).first()
    if cart is None:
        raise NotFound(f"No cart with id {cart_id}.")
    items = list(cart.items.all())
    products = remote.products(item.product_id for item in items)
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


def add_item(*, cart_id: uuid.UUID, product_id: int, quantity: int) -> Cart:
    """Add a product to a cart; adding one already there adds to its quantity."""
    _check_quantity(quantity)
    with transaction.atomic():
        cart = _open_cart_for_update(cart_id)
        if product_id not in remote.products([product_id]):
            raise ValidationFailed("product_id", f"No product with id {product_id}.")
        item = CartItem.objects.filter(cart=cart, product_id=product_id).first()
        if item is None:
            CartItem.objects.create(cart=cart, product_id=product_id, quantity=quantity)
        elif item.quantity + quantity > MAX_LINE_QUANTITY:
            raise ValidationFailed(
                "quantity", f"A cart line holds at most {MAX_LINE_QUANTITY} (has {item.quantity})."
            )
        else:
            item.quantity += quantity
            item.save(update_fields=["quantity"])
    return get(cart_id=cart_id)


def set_item_quantity(*, cart_id: uuid.UUID, product_id: int, quantity: int) -> Cart:
    _check_quantity(quantity)
    with transaction.atomic():
        cart = _open_cart_for_update(cart_id)
        if not CartItem.objects.filter(cart=cart, product_id=product_id).update(quantity=quantity):
            raise NotFound(f"Product {product_id} is not in this cart.")
    return get(cart_id=cart_id)


def remove_item(*, cart_id: uuid.UUID, product_id: int) -> Cart:
    with transaction.atomic():
        cart = _open_cart_for_update(cart_id)
        deleted, _ = CartItem.objects.filter(cart=cart, product_id=product_id).delete()
        if not deleted:
            raise NotFound(f"Product {product_id} is not in this cart.")
    return get(cart_id=cart_id)


def lock(cart_id: uuid.UUID) -> CartRow | None:
    """The cart row, locked until the transaction ends, so that changes and a checkout of one
    cart happen one after the other."""
    return CartRow.objects.select_for_update().filter(id=cart_id).first()


def check_open(cart: CartRow) -> None:
    if cart.status != CartRow.Status.OPEN:
        raise CartClosed()


def checkout_under_way(cart: CartRow) -> uuid.UUID | None:
    """The saga of this cart's checkout under way, if there is one (there is one at most)."""
    return cart.orders.filter(status=Order.Status.PENDING).values_list("saga", flat=True).first()


def _open_cart_for_update(cart_id: uuid.UUID) -> CartRow:
    """The cart, locked, if it may change. A cart whose checkout is under way may not: its
    order's lines were taken from it, and a change now would not be in the order. (If that
    checkout fails, the cart is open again.)"""
    cart = lock(cart_id)
    if cart is None:
        raise NotFound(f"No cart with id {cart_id}.")
    check_open(cart)
    if checkout_under_way(cart) is not None:
        raise CartClosed("This cart is being checked out; try again shortly.")
    return cart


def _check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= MAX_LINE_QUANTITY:
        raise ValidationFailed("quantity", f"Must be between 1 and {MAX_LINE_QUANTITY}.")
