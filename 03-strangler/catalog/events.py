"""What the catalog tells the world while it still lives in the monolith: a product changed.

Event-fed synchronisation (workshop/patterns/13-event-fed-sync.md): while staff writes still
land in the monolith's own catalog tables (SHOP_CATALOG_BACKEND=local, the parallel run of
chapter 3), each write records this event in the outbox, in its own transaction, and the
catalog service's `catalog-sync` process applies it to the service's copy. The event carries
the product's whole state, not the fields that changed, so applying it needs nothing else,
and `updated_at`, the version: a consumer keeps a row whose `updated_at` is as new or newer,
so an old event delivered late never undoes a newer write.

The JSON of `data` is the contract with the catalog service (which imports nothing of the
monolith and reads it in catalog_service/sync.py), as catalog.proto is for gRPC: add fields,
never rename or remove one.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from kernel.events import Event


@dataclass(frozen=True, kw_only=True)
class ProductChanged(Event):
    """A product was created or changed; its state after the change."""

    event_type: ClassVar[str] = "catalog.product_changed"

    product_id: int
    sku: str
    name: str
    description: str
    category: str  # the category's slug
    price_cents: int
    created_at: datetime
    updated_at: datetime  # the version: later writes have later times

    @property
    def aggregate_id(self) -> str:
        return str(self.product_id)

    def data(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "sku": self.sku,
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "price_cents": self.price_cents,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
