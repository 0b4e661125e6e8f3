"""The catalog service's tables: the catalog, now owned here.

They start as the monolith's catalog tables were (`copy_catalog` fills them, keeping the
monolith's product ids, which carts, orders and stock still refer to), and from then on change
only with this service's own migrations.
"""

from django.db import models
from django.utils import timezone

# The limits of API.md, checked by products.py before the database would refuse a value.
SKU_MAX_LENGTH = 64
NAME_MAX_LENGTH = 200
SLUG_MAX_LENGTH = 50


class Category(models.Model):
    slug = models.SlugField(max_length=SLUG_MAX_LENGTH, unique=True)

    class Meta:
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.slug


class Product(models.Model):
    sku = models.CharField(max_length=SKU_MAX_LENGTH, unique=True)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.TextField(blank=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    price_cents = models.PositiveIntegerField()
    # Defaults, not auto_now/auto_now_add: those would overwrite the monolith's timestamps
    # when copy_catalog inserts its rows. products.update sets updated_at itself.
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price_cents__gt=0), name="product_price_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class ProcessedEvent(models.Model):
    """A `catalog.product_changed` event catalog-sync has applied (or found stale): the unique
    event id makes a second delivery of the same event a no-op (catalog_service/sync.py)."""

    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=100)
    processed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
