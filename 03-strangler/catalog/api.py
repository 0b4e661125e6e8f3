"""The catalog's public interface: the only module other contexts may import.

Branch by abstraction: every caller goes through these functions, and a setting chooses what
is behind them, without a caller changing a line:

- SHOP_CATALOG_BACKEND = "local": the monolith's own tables (`catalog.local`), as at stage 02;
- SHOP_CATALOG_BACKEND = "grpc": the extracted catalog service (`catalog.remote`), over gRPC.

Both hand out `Product` dataclasses, never model instances or protobuf messages, and both
raise the kernel's errors, so a caller cannot tell them apart except by speed and by what
happens when the network fails (a 503, see `catalog.remote`). Lookups for many products are
one call (`products_get_many`), so a cart of fifty lines costs one query or one RPC, not fifty.
"""

from collections.abc import Iterable
from typing import Unpack

from django.conf import settings

from . import local, remote
from .types import CatalogBackend, Product, ProductChanges, ProductSearch

__all__ = [
    "Product",
    "ProductSearch",
    "check",
    "product_create",
    "product_get",
    "product_search",
    "product_update",
    "products_ensure",
    "products_get_many",
]

BACKENDS: dict[str, CatalogBackend] = {"local": local, "grpc": remote}


def _backend() -> CatalogBackend:
    # Read on every call, not once at import: a test (or a learner in a shell) can switch.
    return BACKENDS[settings.SHOP_CATALOG_BACKEND]


def product_search(*, q: str | None = None, category: str | None = None) -> ProductSearch:
    """Products whose name or description contains `q`, in category `category` (both optional)."""
    return _backend().product_search(q=q, category=category)


def product_get(*, product_id: int) -> Product:
    return _backend().product_get(product_id=product_id)


def products_get_many(*, product_ids: Iterable[int]) -> dict[int, Product]:
    """The products with these ids, by id, in one call; unknown ids are simply absent."""
    return _backend().products_get_many(product_ids=product_ids)


def product_create(
    *, sku: str, name: str, description: str, category: str, price_cents: int
) -> Product:
    """Create a product (and its category, if new). Stock is inventory's business: a product
    inventory has never heard of has nothing in stock."""
    return _backend().product_create(
        sku=sku, name=name, description=description, category=category, price_cents=price_cents
    )


def product_update(*, product_id: int, **changes: Unpack[ProductChanges]) -> Product:
    """Change the fields given (API.md's PATCH); the others stay as they are."""
    return _backend().product_update(product_id=product_id, **changes)


def products_ensure(*, products: Iterable[Product]) -> int:
    """Seed the demo catalog into the monolith's own tables, whatever the backend: the data
    starts in the monolith, and the copy command moves it to the catalog service."""
    return local.products_ensure(products=products)


def check() -> None:
    """Raise if the catalog cannot answer now (for the readiness probe)."""
    _backend().check()
