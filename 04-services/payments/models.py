"""The payments service's table: every charge asked for, approved or declined, and its refund."""

import uuid

from django.db import models


class Charge(models.Model):
    """One charge at the provider, and what became of it.

    `idempotency_key` is unique: the database, not a check in Python, is what guarantees one
    charge per key when two calls with the same key race (charges.create_charge).
    `refund_idempotency_key` is unique too, and empty (NULL) until the charge is refunded.
    `order_id` is the orders service's id, a plain string: no foreign key crosses a service.
    A voided key is a row too, of 0 cents: the amount is positive for every other status.
    """

    class Status(models.TextChoices):
        # Only ever seen inside the transaction that creates the charge: the row claims its
        # key before the provider is asked, and the same transaction records the answer.
        # A crash in between rolls the row back, so no committed charge is pending.
        PENDING = "pending"
        APPROVED = "approved"
        DECLINED = "declined"
        REFUNDED = "refunded"
        # No charge was made with this key, and none ever will be (charges.void_charge): the
        # row claims the key as a charge would, with an amount of 0 and no provider call.
        VOIDED = "voided"

    charge_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    idempotency_key = models.CharField(max_length=255, unique=True)
    order_id = models.CharField(max_length=64)
    amount_cents = models.PositiveBigIntegerField()  # an order total: may pass 2**31
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices)
    provider_reference = models.CharField(max_length=64, blank=True)  # "" when declined
    created_at = models.DateTimeField(auto_now_add=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    refund_idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["id"]  # the order they were asked for: oldest first
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_cents__gt=0) | models.Q(status="voided"),
                name="charge_amount_positive_unless_voided",
            )
        ]

    def __str__(self) -> str:
        return f"{self.charge_id} {self.amount_cents} {self.currency} ({self.status})"
