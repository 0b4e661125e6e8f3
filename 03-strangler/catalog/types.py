"""What the catalog hands out, whichever implementation is behind `catalog.api`."""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Product:
    id: int
    sku: str
    name: str
    description: str
    category: str
    price_cents: int


class ProductSearch(Protocol):
    """The products matching a search, ordered by id, read a page at a time: the sequence
    Django's paginator expects (`count()`, then one slice per page)."""

    def count(self) -> int: ...

    def __len__(self) -> int: ...

    def __getitem__(self, page: slice) -> list[Product]: ...
