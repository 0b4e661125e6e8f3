"""Every table of the shop, one database, foreign keys across every context.

Read the sections as the bounded contexts that later stages cut apart: catalog, inventory,
ordering (carts, orders), payments, and the idempotency records of the HTTP edge. Money is
always an integer number of cents (`*_cents`).
"""

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils.crypto import constant_time_compare


# --- catalog ---------------------------------------------------------------------------------
class Category(models.Model):
    slug = models.SlugField(unique=True)

    class Meta:
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.slug


class Product(models.Model):
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    price_cents = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(price_cents__gt=0), name="price_positive")
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


# --- inventory -------------------------------------------------------------------------------
class StockLevel(models.Model):
    """How many units of a product can still be sold; the row checkout locks."""

    product = models.OneToOneField(
        Product, on_delete=models.CASCADE, primary_key=True, related_name="stock"
    )
    available = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.product_id}: {self.available}"


# --- ordering --------------------------------------------------------------------------------
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
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "product"], name="one_line_per_product")
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
    # Set by the email task, so that a task delivered twice sends one email.
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    cancellation_sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"order {self.id} ({self.status})"


class OrderLine(models.Model):
    """One product of an order; the unit price is kept as paid, the rest read from the product."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    unit_price_cents = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} x product {self.product_id} at {self.unit_price_cents} cents"


# --- payments --------------------------------------------------------------------------------
class Charge(models.Model):
    """A charge at the (fake) payment provider: exactly one per order."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded"
        REFUNDED = "refunded"

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="charge")
    amount_cents = models.PositiveBigIntegerField()  # an order total: 64 bits, as total_cents
    token = models.CharField(max_length=64)
    provider_reference = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.provider_reference} {self.amount_cents} cents ({self.status})"


# --- HTTP edge -------------------------------------------------------------------------------
class IdempotencyKey(models.Model):
    """A client's Idempotency-Key for placing an order, and the request it first came with."""

    key = models.CharField(max_length=255, unique=True)
    request_fingerprint = models.CharField(max_length=64)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class AuthToken(models.Model):
    """A staff login's token (shop.api.auth): stored as a digest, ending at `expires_at` or
    when the user's password changes."""

    digest = models.CharField(max_length=64, primary_key=True)  # sha256 of the key
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auth_tokens"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # The user's get_session_auth_hash() at login: it changes with the password.
    password_stamp = models.CharField(max_length=128)

    def __str__(self) -> str:
        return f"token of {self.user} until {self.expires_at:%Y-%m-%d %H:%M}"

    def works(self, now: datetime) -> bool:
        return now < self.expires_at and constant_time_compare(
            self.password_stamp, self.user.get_session_auth_hash()
        )
