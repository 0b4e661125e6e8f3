"""The edge's table: the Idempotency-Key of each order request (an HTTP concern)."""

from django.db import models


class IdempotencyKey(models.Model):
    """A client's Idempotency-Key for placing an order, and the request it first came with.

    `order_id` is ordering's id, not a foreign key: the edge keeps only the id it needs to
    replay the answer.
    """

    key = models.CharField(max_length=255, unique=True)
    request_fingerprint = models.CharField(max_length=64)
    order_id = models.UUIDField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key
