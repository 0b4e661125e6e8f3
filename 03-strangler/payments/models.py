"""Payments' table: one charge per order. Private to the payments context."""

from django.db import models


class Charge(models.Model):
    """A charge at the (fake) payment provider: exactly one per order.

    `order_id` is ordering's id, a plain UUID: no foreign key crosses a context. It is unique,
    which is what "exactly one charge per order" rests on.
    """

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded"
        REFUNDED = "refunded"

    order_id = models.UUIDField(unique=True)
    amount_cents = models.PositiveBigIntegerField()  # an order total: 99 units may pass 2**31
    token = models.CharField(max_length=64)
    provider_reference = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.provider_reference} {self.amount_cents} cents ({self.status})"
