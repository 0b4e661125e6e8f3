"""What the catalog hands out, whichever implementation is behind `catalog.api`.

`Product` lives in the shared kernel: the catalog service hands out the same one.
"""

from typing import Protocol

from kernel.catalog_presenters import Product

__all__ = ["Product", "ProductSearch"]


class ProductSearch(Protocol):
    """The products matching a search, ordered by id, read a page at a time: the sequence
    Django's paginator expects (`count()`, then one slice per page)."""

    def count(self) -> int: ...

    def __len__(self) -> int: ...

    def __getitem__(self, page: slice) -> list[Product]: ...
