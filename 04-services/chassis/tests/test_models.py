"""ProcessedEvent's unique (consumer, event id): the guard that makes a consumer idempotent."""

import uuid

import pytest
from django.db import IntegrityError, transaction

from chassis.models import ProcessedEvent


@pytest.mark.django_db
def test_an_event_is_processed_once_per_consumer():
    event_id = uuid.uuid4()

    for consumer in ("notifications", "analytics"):
        ProcessedEvent.objects.create(
            consumer=consumer, event_id=event_id, event_type="order.confirmed"
        )
    # savepoint: PostgreSQL refuses every later statement of a transaction that failed
    with pytest.raises(IntegrityError), transaction.atomic():
        ProcessedEvent.objects.create(
            consumer="notifications", event_id=event_id, event_type="order.confirmed"
        )

    assert sorted(ProcessedEvent.objects.values_list("consumer", flat=True)) == [
        "analytics",
        "notifications",
    ]
