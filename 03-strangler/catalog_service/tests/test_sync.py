"""catalog-sync's handler: the monolith's `catalog.product_changed` events applied to the
service's catalog, once each, and never an older state over a newer one."""

import types
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kernel.consumer import MalformedEvent

from catalog_service import products, sync
from catalog_service.models import ProcessedEvent
from catalog_service.models import Product as ProductRow

pytestmark = pytest.mark.django_db

WRITTEN = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)


def product_changed(product_id: int, *, price_cents: int, updated_at: datetime, **fields) -> dict:
    """An envelope as the monolith's outbox writes it (03-strangler/catalog/events.py)."""
    data = {
        "product_id": product_id,
        "sku": f"SYNC-{product_id}",
        "name": f"Synced {product_id}",
        "description": "",
        "category": "synced",
        "price_cents": price_cents,
        "created_at": WRITTEN.isoformat(),
        "updated_at": updated_at.isoformat(),
        **fields,
    }
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "catalog.product_changed",
        "version": 1,
        "occurred_at": updated_at.isoformat(),
        "aggregate_id": str(product_id),
        "data": data,
    }


def price_of(product_id: int) -> int:
    return products.get(product_id=product_id).price_cents


def test_a_product_created_in_the_monolith_arrives_with_its_id_and_timestamps():
    assert sync.handle(product_changed(9001, price_cents=1250, updated_at=WRITTEN)) == "applied"

    row = ProductRow.objects.get(id=9001)
    assert (row.sku, row.category.slug, row.price_cents) == ("SYNC-9001", "synced", 1250)
    assert (row.created_at, row.updated_at) == (WRITTEN, WRITTEN)


def test_a_newer_change_is_applied():
    sync.handle(product_changed(9002, price_cents=1250, updated_at=WRITTEN))

    later = WRITTEN + timedelta(seconds=1)
    assert sync.handle(product_changed(9002, price_cents=1399, updated_at=later)) == "applied"
    assert price_of(9002) == 1399


def test_the_same_event_delivered_twice_is_applied_once():
    event = product_changed(9003, price_cents=1250, updated_at=WRITTEN)
    assert sync.handle(event) == "applied"
    ProductRow.objects.filter(id=9003).update(price_cents=777)  # so a second apply would show

    assert sync.handle(event) == "duplicate"
    assert price_of(9003) == 777
    assert ProcessedEvent.objects.filter(event_id=event["event_id"]).count() == 1


def test_an_older_event_delivered_late_does_not_overwrite_a_newer_row():
    later = WRITTEN + timedelta(seconds=5)
    sync.handle(product_changed(9004, price_cents=1399, updated_at=later))

    outcome = sync.handle(product_changed(9004, price_cents=1250, updated_at=WRITTEN))

    assert outcome == "stale"
    assert price_of(9004) == 1399


def test_without_the_version_check_the_late_event_would_win():
    """The test above can fail: on a copy of sync.py without apply's version check (the
    processed-event table alone, which a new event id gets past), the older price comes back."""
    source = Path(sync.__file__).read_text()
    version_check = (
        '    if row is not None and row.updated_at >= change.updated_at:\n        return "stale"\n'
    )
    assert version_check in source, "sync.apply changed: update this copy"
    blind = types.ModuleType("catalog_service.version_blind_sync")
    blind.__package__ = "catalog_service"
    exec(compile(source.replace(version_check, ""), "version_blind_sync.py", "exec"), vars(blind))

    blind.handle(product_changed(9200, price_cents=1399, updated_at=WRITTEN + timedelta(seconds=5)))
    blind.handle(product_changed(9200, price_cents=1250, updated_at=WRITTEN))

    assert price_of(9200) == 1250


def test_an_event_of_the_version_the_row_holds_changes_nothing():
    """What the copy wrote (the monolith's updated_at) is that version already."""
    sync.handle(product_changed(9005, price_cents=1250, updated_at=WRITTEN))

    outcome = sync.handle(product_changed(9005, price_cents=999, updated_at=WRITTEN))

    assert outcome == "stale"
    assert price_of(9005) == 1250


def test_a_change_made_by_the_service_itself_later_is_kept():
    """After the write switch (step 6) the service writes its own rows; a monolith event that
    was still on its way is older and must not undo them."""
    sync.handle(product_changed(9006, price_cents=1250, updated_at=WRITTEN))
    products.update(product_id=9006, fields=["price_cents"], price_cents=2000)

    later_than_the_copy = WRITTEN + timedelta(seconds=1)
    sync.handle(product_changed(9006, price_cents=1399, updated_at=later_than_the_copy))

    assert price_of(9006) == 2000


@pytest.mark.parametrize(
    "envelope",
    [
        {"event_type": "order.confirmed", "event_id": str(uuid.uuid4()), "data": {}},
        {"event_type": "catalog.product_changed", "event_id": "not-a-uuid", "data": {}},
        {
            **product_changed(9007, price_cents=1250, updated_at=WRITTEN),
            "data": {"product_id": 9007},
        },
    ],
    ids=["another-event", "bad-id", "missing-fields"],
)
def test_an_event_no_retry_can_fix_is_refused_as_malformed(envelope):
    with pytest.raises(MalformedEvent):
        sync.handle(envelope)
    assert not ProcessedEvent.objects.exists()


def test_old_processed_event_ids_are_forgotten():
    sync.handle(product_changed(9008, price_cents=1250, updated_at=WRITTEN))
    ProcessedEvent.objects.update(processed_at=datetime.now(UTC) - timedelta(days=31))

    assert sync.forget_old_events() == 1


def test_a_product_the_service_creates_after_a_synced_one_gets_a_fresh_id():
    """The synced row came with the monolith's id; the service's own next id must pass it."""
    sync.handle(product_changed(9100, price_cents=1250, updated_at=WRITTEN))

    created = products.create(
        sku="SYNC-NEW", name="New", description="", category="synced", price_cents=100
    )

    assert created.id > 9100
