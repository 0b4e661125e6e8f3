"""Inventory's public interface: read, restock, reserve and release stock.

`reserve` and `release` run inside the caller's transaction (checkout, cancellation): they
lock the stock rows, in product order, so two checkouts of the same products queue up
instead of overselling or deadlocking.

A product the catalog knows but inventory has no row for has nothing in stock: a new
product starts at 0 without the catalog having to tell inventory about it.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from catalog import api as catalog_api
from django.db import transaction
from django.db.models import F
from kernel.errors import NotFound, OutOfStock

from .models import StockLevel


@dataclass(frozen=True)
class Shortage:
    product_id: int
    requested: int
    available: int


def available(*, product_id: int) -> int:
    """Units of a product that can be sold; NotFound if the catalog does not know it."""
    level = StockLevel.objects.filter(product_id=product_id).values_list("available", flat=True)
    found = level.first()
    if found is not None:
        return found
    _require_product(product_id)
    return 0


@transaction.atomic
def restock(*, product_id: int, quantity: int) -> int:
    """Add units to a product's stock; returns what is now available."""
    if not StockLevel.objects.filter(product_id=product_id).exists():
        _require_product(product_id)
        StockLevel.objects.get_or_create(product_id=product_id)
    StockLevel.objects.filter(product_id=product_id).update(available=F("available") + quantity)
    return StockLevel.objects.values_list("available", flat=True).get(product_id=product_id)


def reserve(*, quantities: Mapping[int, int]) -> None:
    """Take `quantities` ({product_id: units}) out of stock, all or nothing.

    Raises OutOfStock listing every shortage. Call it inside a transaction: the rows stay
    locked until the caller commits, so a concurrent checkout waits and then sees what is left.
    """
    levels = _locked_levels(quantities)
    shortages = [
        Shortage(product_id=product_id, requested=requested, available=have)
        for product_id, requested in sorted(quantities.items())
        if requested > (have := levels[product_id].available if product_id in levels else 0)
    ]
    if shortages:
        raise OutOfStock([vars(shortage) for shortage in shortages])
    for product_id, requested in quantities.items():
        StockLevel.objects.filter(product_id=product_id).update(
            available=F("available") - requested
        )


def release(*, quantities: Mapping[int, int]) -> None:
    """Put `quantities` ({product_id: units}) back into stock (an order was cancelled)."""
    levels = _locked_levels(quantities)
    for product_id, units in quantities.items():
        if product_id in levels:
            StockLevel.objects.filter(product_id=product_id).update(
                available=F("available") + units
            )
        else:
            StockLevel.objects.create(product_id=product_id, available=units)


@transaction.atomic
def stock_ensure(*, levels: Mapping[int, int]) -> int:
    """Give the products in `levels` ({product_id: units}) that have no stock row one;
    returns how many were created. Used to seed the demo catalog."""
    existing = set(StockLevel.objects.values_list("product_id", flat=True))
    missing = [product_id for product_id in levels if product_id not in existing]
    StockLevel.objects.bulk_create(
        StockLevel(product_id=product_id, available=levels[product_id]) for product_id in missing
    )
    return len(missing)


def _locked_levels(product_ids: Iterable[int]) -> dict[int, StockLevel]:
    """Lock the stock rows of these products (SELECT ... FOR UPDATE), in product order, so
    that two transactions locking overlapping products cannot deadlock."""
    rows = StockLevel.objects.select_for_update().filter(product_id__in=list(product_ids))
    return {level.product_id: level for level in rows.order_by("product_id")}


def _require_product(product_id: int) -> None:
    if product_id not in catalog_api.products_get_many(product_ids=[product_id]):
        raise NotFound(f"No product with id {product_id}.")
