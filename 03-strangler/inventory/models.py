"""Inventory's table: the stock level of each product. Private to the inventory context."""

from django.db import models


class StockLevel(models.Model):
    """How many units of a product can still be sold; the row checkout locks.

    `product_id` is the catalog's id, kept as a plain integer: no foreign key crosses a
    context, so inventory could move to its own database without touching the catalog.
    """

    product_id = models.PositiveBigIntegerField(primary_key=True)
    available = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.product_id}: {self.available}"
