"""The catalog service's tables: the catalog, owned here and nowhere else.

They are stage 03's catalog service's tables. `seed_catalog` fills them with the demo
products and their fixed ids, which stock, carts and orders in the other services refer to.
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
    # Defaults rather than auto_now/auto_now_add, as at stage 03: products.update sets
    # updated_at itself, and bulk inserts (the seed) get their times like any other row.
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
