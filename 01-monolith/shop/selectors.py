"""Reads: the queries behind every GET, each a constant number of queries.

The product list and detail are the hottest paths of the shop, so they return plain rows
(`values()`) rather than model instances: serialising model instances through DRF costs
more than the database does (see DESIGN.md, "Measured").
"""

import uuid
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from .errors import NotFound
from .models import Cart, CartItem, Order, OrderLine, Product, StockLevel

PRODUCT_FIELDS = ("id", "sku", "name", "description", "category__slug", "price_cents")

# values() resolves its fields (and the join that category__slug needs) every time it is
# called. Resolved once here; each request starts from a copy (`.all()`), and this query set
# itself is never evaluated, so it caches no rows. Measured with a profiler on the product
# list: building it was a sixth of the request's CPU.
_PRODUCT_ROWS = Product.objects.order_by("id").values(*PRODUCT_FIELDS)


class ProductRows:
    """The product list as Django's paginator reads it: `count()`, then one slice; two
    queries per page, whatever its size.

    The count runs on the bare filter: no values(), no ordering, no join unless a filter
    needs one. Counting the values() query instead compiles and runs all of that for nothing.
    """

    def __init__(self, matching: QuerySet[Product], rows: QuerySet):
        self._matching = matching
        self._rows = rows

    def count(self) -> int:
        return self._matching.count()

    def __getitem__(self, window: slice) -> list[dict[str, Any]]:
        return list(self._rows[window])


def product_rows(*, q: str | None = None, category: str | None = None) -> ProductRows:
    """Products ordered by id as plain dicts, filtered by a search text and/or a category."""
    condition = Q()
    if q:
        condition &= Q(name__icontains=q) | Q(description__icontains=q)
    if category:
        condition &= Q(category__slug=category)
    return ProductRows(Product.objects.filter(condition), _PRODUCT_ROWS.all().filter(condition))


def product_row_get(*, product_id: int) -> dict[str, Any]:
    row = Product.objects.filter(id=product_id).values(*PRODUCT_FIELDS).first()
    if row is None:
        raise NotFound(f"No product with id {product_id}.")
    return row


def stock_available_get(*, product_id: int) -> int:
    available = (
        StockLevel.objects.filter(product_id=product_id).values_list("available", flat=True).first()
    )
    if available is None:
        raise NotFound(f"No product with id {product_id}.")
    return available


def cart_get(*, cart_id: uuid.UUID) -> Cart:
    """A cart with its items and their products: two queries, whatever the size."""
    items = CartItem.objects.select_related("product").order_by("id")
    cart = Cart.objects.prefetch_related(Prefetch("items", queryset=items)).filter(id=cart_id)
    found = cart.first()
    if found is None:
        raise NotFound(f"No cart with id {cart_id}.")
    return found


def order_get(*, order_id: uuid.UUID) -> Order:
    """An order with its lines and their products: two queries, whatever the size."""
    lines = OrderLine.objects.select_related("product").order_by("id")
    order = Order.objects.prefetch_related(Prefetch("lines", queryset=lines)).filter(id=order_id)
    found = order.first()
    if found is None:
        raise NotFound(f"No order with id {order_id}.")
    return found
