"""The outbox table: events waiting to be published, written with the change they describe."""

from django.db import models


class OutboxMessage(models.Model):
    """One event envelope, inserted in the same transaction as the change it reports.

    The relay publishes rows in `id` order and sets `published_at`; a row whose transaction
    rolled back never existed, so no event is ever published for a change that did not happen.
    """

    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=100)  # the routing key, e.g. "order.confirmed"
    aggregate_id = models.CharField(max_length=64)  # e.g. the order id
    payload = models.JSONField()  # the envelope, published as it is
    # The W3C trace context of the transaction that wrote the row: the relay publishes the
    # event in that trace, so the event's journey shows in the trace of the request behind it.
    traceparent = models.CharField(max_length=55, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The relay's only question is "what is not published yet, oldest first": a
            # partial index keeps that cheap however many published rows pile up.
            models.Index(
                fields=["id"],
                condition=models.Q(published_at__isnull=True),
                name="outbox_unpublished",
            )
        ]

    def __str__(self) -> str:
        state = "published" if self.published_at else "waiting"
        return f"{self.id} {self.event_type} {self.aggregate_id} ({state})"
