"""Ordering's tables: carts and orders. Private to the ordering context.

Products are referred to by their catalog id, never by a foreign key. An order line keeps a
snapshot of what was bought (sku, name, price paid), so an order reads without asking the
catalog, and reads the same after the catalog changes.
"""

import uuid

from django.db import models


class Cart(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        CHECKED_OUT = "checked_out"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"cart {self.id} ({self.status})"


class CartItem(models.Model):
    """A product in a cart: the catalog id and a quantity; name and price are read live."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    product_id = models.PositiveBigIntegerField()
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "product_id"], name="one_line_per_product")
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x product {self.product_id}"


class Order(models.Model):
    class Status(models.TextChoices):
        CONFIRMED = "confirmed"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    cart = models.OneToOneField(Cart, on_delete=models.PROTECT, related_name="order")
    email = models.EmailField()
    status = models.CharField(max_length=16, choices=Status.choices)
    total_cents = models.PositiveBigIntegerField()  # 99 units at the top price pass 2**31 cents
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"order {self.id} ({self.status})"


class OrderLine(models.Model):
    """One product of an order, as it was when the order was placed."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product_id = models.PositiveBigIntegerField()
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    unit_price_cents = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku} at {self.unit_price_cents} cents"

    def snapshot(self) -> dict[str, int | str]:
        """What was bought, as the order's view (api.Line) and its events (OrderedItem) carry
        it: one mapping for both."""
        return {
            "product_id": self.product_id,
            "sku": self.sku,
            "name": self.name,
            "unit_price_cents": self.unit_price_cents,
            "quantity": self.quantity,
        }
