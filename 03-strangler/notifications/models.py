"""Notifications' table: the events it has handled, so a redelivered event is ignored."""

from django.db import models


class ProcessedEvent(models.Model):
    """An event this consumer has handled. The unique event id is the idempotency guard: a
    second delivery (a relay retry, a consumer crash before its ack) finds the row and stops."""

    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=100)
    processed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
