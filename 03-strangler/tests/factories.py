"""Small factory functions: each builds one thing the tests need, with sensible defaults.

They write straight to each context's tables (tests may; application code may not), or go
through a context's api where that is the only honest way to build the thing, as for an
order. A test states only what it cares about:
`make_product(stock=3)`, `make_cart([(kettle, 2)])`.
"""

import itertools
from collections.abc import Iterable

from catalog.models import Category, Product
from django.contrib.auth import get_user_model
from edge import auth
from inventory.models import StockLevel
from ordering import api as ordering_api
from ordering.models import Cart, CartItem

_numbers = itertools.count(1)


def make_product(
    *,
    sku: str | None = None,
    name: str = "Test Kettle",
    description: str = "A kettle for the tests.",
    category: str = "kitchen",
    price_cents: int = 1250,
    stock: int = 10,
) -> Product:
    """A product with its stock level (10 units of a 12.50 kettle unless told otherwise)."""
    product = Product.objects.create(
        sku=sku or f"TEST-{next(_numbers):04d}",
        name=name,
        description=description,
        category=Category.objects.get_or_create(slug=category)[0],
        price_cents=price_cents,
    )
    StockLevel.objects.create(product_id=product.id, available=stock)
    return product


def make_cart(items: Iterable[tuple[Product, int]] = ()) -> Cart:
    """An open cart holding `items`, a list of (product, quantity)."""
    cart = Cart.objects.create()
    for product, quantity in items:
        CartItem.objects.create(cart=cart, product_id=product.id, quantity=quantity)
    return cart


def make_order(
    items: Iterable[tuple[Product, int]],
    *,
    email: str = "buyer@example.com",
    payment_token: str = "tok_visa",
) -> ordering_api.Order:
    """A confirmed order, placed through ordering's api (stock taken, charge made, event
    recorded in the outbox)."""
    cart = make_cart(items)
    return ordering_api.place_order(cart_id=cart.id, email=email, payment_token=payment_token)


def make_user(*, username: str = "user", password: str = "secret", is_staff: bool = False):
    return get_user_model().objects.create_user(
        username=username, password=password, is_staff=is_staff
    )


def make_token(user) -> str:
    return auth.issue_token(user=user)[0]
