"""What the catalog hands out and takes, whichever implementation is behind `catalog.api`.

`Product` lives in the shared kernel: the catalog service hands out the same one.
`CatalogBackend` is the one interface of the branch by abstraction, said once: what
`catalog.local` and `catalog.remote` (modules, each a backend) both provide.
"""

from collections.abc import Iterable
from typing import Protocol, TypedDict, Unpack

from kernel.catalog_presenters import Product

__all__ = ["CatalogBackend", "Product", "ProductChanges", "ProductSearch"]


class ProductChanges(TypedDict, total=False):
    """What `product_update` may change: a field left out (or None) stays as it is."""

    name: str | None
    description: str | None
    category: str | None
    price_cents: int | None


class ProductSearch(Protocol):
    """The products matching a search, ordered by id, read a page at a time: the sequence
    Django's paginator expects (`count()`, then one slice per page)."""

    def count(self) -> int: ...

    def __getitem__(self, page: slice) -> list[Product]: ...


class CatalogBackend(Protocol):
    """What `catalog.api` calls on the backend the setting names: each function once here,
    each backend module implementing all of them (a module satisfies a Protocol)."""

    def product_search(
        self, *, q: str | None = None, category: str | None = None
    ) -> ProductSearch: ...

    def product_get(self, *, product_id: int) -> Product: ...

    def products_get_many(self, *, product_ids: Iterable[int]) -> dict[int, Product]: ...

    def product_create(
        self, *, sku: str, name: str, description: str, category: str, price_cents: int
    ) -> Product: ...

    def product_update(self, *, product_id: int, **changes: Unpack[ProductChanges]) -> Product: ...

    def check(self) -> None: ...
