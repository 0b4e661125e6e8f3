"""The catalog service's use cases: what its HTTP views and its gRPC servicer call.

Neither of them touches a model: they unpack a request, call one function here, and pack
the `Product` (from kernel.catalog_presenters, the same one the monolith hands out) that
comes back.

Every rule about a product is checked here, whoever calls. The monolith validates staff
input before forwarding it, but a service must not trust its callers: a new one, a buggy one,
or a person with grpcurl. Reads build plain `Product`s from `values()` rows, never model
instances (DESIGN.md: serialising, not the database, is what makes a naive list slow).
Errors are the kernel's: NotFound, and ValidationFailed naming the fields at fault.
"""

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from django.core.management.color import no_style
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from kernel.catalog_presenters import Product
from kernel.errors import NotFound, ValidationFailed
from kernel.http import PagedRows, PagePagination
from kernel.money import CURRENCY, cents_to_str

from .models import NAME_MAX_LENGTH, SKU_MAX_LENGTH, SLUG_MAX_LENGTH, Category
from .models import Product as ProductRow

MAX_BATCH = 1000  # ids in one get_many (catalog.proto: BatchGetProducts)
DEFAULT_PAGE_SIZE = PagePagination.page_size  # API.md's pages, over gRPC too: 20 ...
MAX_PAGE_SIZE = PagePagination.max_page_size  # ... and at most 100
MAX_PRICE_CENTS = 100_000_000  # 1,000,000.00: API.md's highest price
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
UPDATABLE = ("name", "description", "category", "price_cents")  # the sku never changes

_VALUES = ("id", "sku", "name", "description", "category__slug", "price_cents")


class InvalidFields(ValidationFailed):
    """Every rule the input breaks, by field (ValidationFailed itself names one)."""

    def __init__(self, fields: dict[str, list[str]]):
        field, reasons = next(iter(fields.items()))
        super().__init__(field, reasons[0])
        self.fields = fields


class DuplicateSku(ValidationFailed):
    """The sku is taken: a conflict with existing data, not malformed input (gRPC tells the
    two apart: ALREADY_EXISTS, not INVALID_ARGUMENT)."""

    def __init__(self) -> None:
        super().__init__("sku", "A product with this sku already exists.")


@dataclass(frozen=True)
class ProductPage:
    products: list[Product]
    total: int  # how many products match, over all pages


# --- rules -----------------------------------------------------------------------------------
# The monolith's messages (DRF's, for the same limits), so a caller may show them as they are.
def _text(max_length: int) -> Callable[[str], str | None]:
    def rule(value: str) -> str | None:
        if not value.strip():
            return "This field may not be blank."
        if len(value) > max_length:
            return f"Ensure this field has no more than {max_length} characters."
        return None

    return rule


def _slug(value: str) -> str | None:
    if len(value) > SLUG_MAX_LENGTH:
        return f"Ensure this field has no more than {SLUG_MAX_LENGTH} characters."
    if not SLUG.match(value):
        return "Use lower-case letters, digits and hyphens."
    return None


def _price(value: int) -> str | None:
    if value < 1:
        return "Price must be greater than 0."
    if value > MAX_PRICE_CENTS:
        return f"Ensure this value is less than or equal to {cents_to_str(MAX_PRICE_CENTS)}."
    return None


def _currency(value: str) -> str | None:
    return None if value in ("", CURRENCY) else f"Prices are in {CURRENCY}."


RULES: dict[str, Callable[[Any], str | None]] = {
    "sku": _text(SKU_MAX_LENGTH),
    "name": _text(NAME_MAX_LENGTH),
    "description": lambda value: None,
    "category": _slug,
    "price_cents": _price,
    "currency": _currency,  # "" means the shop's own
}


def _check(values: dict[str, Any]) -> None:
    violations = {
        field: [reason] for field, value in values.items() if (reason := RULES[field](value))
    }
    if violations:
        raise InvalidFields(violations)


# --- reads -----------------------------------------------------------------------------------
# values() resolves its fields (and the join that category__slug needs) every time it is
# called. Resolved once here; each read starts from a copy (`.all()`), and this query set
# itself is never evaluated, so it caches no rows. Measured with a profiler on the product
# list: building it was a sixth of the request's CPU.
_ALL_ROWS = ProductRow.objects.order_by("id").values(*_VALUES)


def _rows(*conditions: Q) -> QuerySet:
    return _ALL_ROWS.all().filter(*conditions)


def _product(row: dict[str, Any]) -> Product:
    row["category"] = row.pop("category__slug")
    return Product(**row)


def get(*, product_id: int) -> Product:
    row = _rows(Q(id=product_id)).first()
    if row is None:
        raise NotFound(f"No product with id {product_id}.")
    return _product(row)


def get_many(*, product_ids: Collection[int]) -> list[Product]:
    """The products with these ids, in one query: in the order asked, each once, unknown ids
    left out (the caller decides whether that is an error)."""
    if len(product_ids) > MAX_BATCH:
        raise ValidationFailed("ids", f"Ask for at most {MAX_BATCH} ids at a time.")
    found = {row["id"]: _product(row) for row in _rows(Q(id__in=set(product_ids)))}
    return [found[product_id] for product_id in dict.fromkeys(product_ids) if product_id in found]


def matching(*, q: str = "", category: str = "") -> PagedRows[Product]:
    """Products whose name or description contains `q` in any case, in category `category`
    (both optional), by id: a sequence a paginator reads one page at a time."""
    condition = Q()
    if q:
        condition &= Q(name__icontains=q) | Q(description__icontains=q)
    if category:
        condition &= Q(category__slug=category)
    return PagedRows(ProductRow.objects.filter(condition), _rows(condition), _product)


def search(
    *, q: str = "", category: str = "", page: int = 1, page_size: int = DEFAULT_PAGE_SIZE
) -> ProductPage:
    """Page `page` (1-based) of `matching(q, category)`, and how many match in all. A page past
    the last one is empty; the total tells the caller where the end is."""
    violations = {}
    if page < 1:
        violations["page"] = ["Pages are numbered from 1."]
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        violations["page_size"] = [f"A page holds 1 to {MAX_PAGE_SIZE} products."]
    if violations:
        raise InvalidFields(violations)
    found = matching(q=q, category=category)
    start = (page - 1) * page_size
    return ProductPage(products=found[start : start + page_size], total=found.count())


# --- writes ----------------------------------------------------------------------------------
def _category(slug: str) -> Category:
    return Category.objects.get_or_create(slug=slug)[0]


def create(
    *, sku: str, name: str, description: str, category: str, price_cents: int, currency: str = ""
) -> Product:
    """A new product, in category `category` (created if new), with a fresh id."""
    _check(
        {
            "sku": sku,
            "name": name,
            "category": category,
            "price_cents": price_cents,
            "currency": currency,
        }
    )
    try:
        with transaction.atomic():
            row = ProductRow.objects.create(
                sku=sku,
                name=name,
                description=description,
                category=_category(category),
                price_cents=price_cents,
            )
    except IntegrityError:
        # The only unique column we set is the sku; checking it after the fact, rather than
        # before, also covers two creates of one sku that race each other.
        if ProductRow.objects.filter(sku=sku).exists():
            raise DuplicateSku() from None
        raise
    return get(product_id=row.id)


def update(
    *,
    product_id: int,
    fields: Collection[str],
    name: str = "",
    description: str = "",
    category: str = "",
    price_cents: int = 0,
    currency: str = "",
) -> Product:
    """Set the `fields` named (any of UPDATABLE; gRPC's update_mask) to the values given; the
    other fields keep theirs, whatever value is passed for them."""
    unknown = sorted(set(fields) - set(UPDATABLE))
    if unknown:
        raise ValidationFailed(
            "update_mask", f"Cannot change {', '.join(unknown)}; only {', '.join(UPDATABLE)}."
        )
    values = {
        "name": name,
        "description": description,
        "category": category,
        "price_cents": price_cents,
    }
    changes: dict[str, Any] = {field: value for field, value in values.items() if field in fields}
    # A new price in another currency is not this price: the currency is checked with it.
    _check(changes | ({"currency": currency} if "price_cents" in changes else {}))
    with transaction.atomic():
        if "category" in changes:
            changes["category"] = _category(changes["category"])
        updated = ProductRow.objects.filter(id=product_id).update(
            **changes, updated_at=timezone.now()
        )
        if not updated:
            raise NotFound(f"No product with id {product_id}.")  # and the category goes too
    return get(product_id=product_id)


def reset_id_sequences() -> None:
    """After rows went in with ids of their own (the monolith's, by copy_catalog or
    catalog-sync): move PostgreSQL's id sequences past them, or the next product created here
    would collide (a no-op on SQLite)."""
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [Category, ProductRow]):
            cursor.execute(statement)
