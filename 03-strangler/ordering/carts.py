"""Carts: open a cart, put products in it, change or remove them. Private to ordering."""

import uuid

from catalog import api as catalog_api
from django.db import transaction
from django.db.models import Prefetch
from kernel.errors import CartClosed, NotFound, ValidationFailed

from .models import Cart, CartItem

MAX_LINE_QUANTITY = 99


def create() -> Cart:
    return Cart.objects.create()


def get(*, cart_id: uuid.UUID) -> Cart:
    """A cart with its items: two queries, whatever its size."""
    items = Prefetch("items", queryset=CartItem.objects.order_by("id"))
    cart = Cart.objects.prefetch_related(items).filter(id=cart_id).first()
    if cart is None:
        raise NotFound(f"No cart with id {cart_id}.")
    return cart


def _open_cart_for_update(cart_id: uuid.UUID) -> Cart:
    """Lock the cart row, so a change and a checkout of one cart happen one after the other."""
    cart = Cart.objects.select_for_update().filter(id=cart_id).first()
    if cart is None:
        raise NotFound(f"No cart with id {cart_id}.")
    if cart.status != Cart.Status.OPEN:
        raise CartClosed()
    return cart


@transaction.atomic
def add_item(*, cart_id: uuid.UUID, product_id: int, quantity: int) -> None:
    """Add a product to a cart; adding one already there adds to its quantity. Stock is not
    checked here (API.md): only checkout reserves."""
    cart = _open_cart_for_update(cart_id)
    if product_id not in catalog_api.products_get_many(product_ids=[product_id]):
        raise ValidationFailed("product_id", f"No product with id {product_id}.")
    item = CartItem.objects.filter(cart=cart, product_id=product_id).first()
    if item is None:
        CartItem.objects.create(cart=cart, product_id=product_id, quantity=quantity)
        return
    if item.quantity + quantity > MAX_LINE_QUANTITY:
        raise ValidationFailed(
            "quantity", f"A cart line holds at most {MAX_LINE_QUANTITY} (has {item.quantity})."
        )
    item.quantity += quantity
    item.save(update_fields=["quantity"])


@transaction.atomic
def set_item_quantity(*, cart_id: uuid.UUID, product_id: int, quantity: int) -> None:
    cart = _open_cart_for_update(cart_id)
    if not CartItem.objects.filter(cart=cart, product_id=product_id).update(quantity=quantity):
        raise NotFound(f"Product {product_id} is not in this cart.")


@transaction.atomic
def remove_item(*, cart_id: uuid.UUID, product_id: int) -> None:
    cart = _open_cart_for_update(cart_id)
    deleted, _ = CartItem.objects.filter(cart=cart, product_id=product_id).delete()
    if not deleted:
        raise NotFound(f"Product {product_id} is not in this cart.")
