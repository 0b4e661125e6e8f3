"""Check of exercise 02-stock-restocked: a restock tells the world, through the outbox. After
`inventory.api.restock(...)` the outbox holds one `stock.restocked` event, written in the
restock's own transaction (before it commits, so a rollback takes it away too), and a
consumer can rebuild it from the envelope with `inventory.events.StockRestocked`.
"""

import importlib
import uuid

import pytest
from catalog.models import Category, Product
from django.db import transaction
from inventory import api as inventory_api
from inventory.models import StockLevel
from messaging.models import OutboxMessage

pytestmark = pytest.mark.django_db


def events_module():
    try:
        return importlib.import_module("inventory.events")
    except ModuleNotFoundError as error:
        if error.name != "inventory.events":
            raise
        pytest.fail("there is no inventory/events.py: the event is inventory's, beside its api")


def kettle(stock: int = 10) -> Product:
    product = Product.objects.create(
        sku="KI-RESTOCK",
        name="Kettle",
        category=Category.objects.get_or_create(slug="kitchen")[0],
        price_cents=1250,
    )
    StockLevel.objects.create(product_id=product.id, available=stock)
    return product


def restocked() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(event_type="stock.restocked"))


def test_the_event_is_inventorys_own():
    events = events_module()
    event_class = getattr(events, "StockRestocked", None)
    assert event_class is not None, "inventory/events.py has no StockRestocked"
    assert event_class.event_type == "stock.restocked", (
        f"StockRestocked.event_type is {event_class.event_type!r}: the routing key must be "
        "'stock.restocked'"
    )


def test_a_restock_writes_its_event_to_the_outbox_in_its_own_transaction(
    django_capture_on_commit_callbacks,
):
    product = kettle(stock=10)
    with django_capture_on_commit_callbacks(execute=False):
        available = inventory_api.restock(product_id=product.id, quantity=4)
        rows = restocked()  # read before anything commits: the outbox row is already there
    assert available == 14
    assert len(rows) == 1, (
        f"after one restock the outbox holds {len(rows)} stock.restocked events before the "
        "transaction commits, not 1: record the event with messaging.outbox.record inside "
        "restock's transaction, not after the commit (that is chapter 1's lost email)"
    )
    (row,) = rows
    assert row.aggregate_id == str(product.id), (
        f"the event is about the product: aggregate_id {product.id}, not {row.aggregate_id!r}"
    )
    assert row.payload["data"] == {"product_id": product.id, "quantity": 4, "available": 14}, (
        "the event's data must be {'product_id', 'quantity', 'available'} (available after "
        f"the restock): {row.payload['data']}"
    )


def test_a_restock_that_rolls_back_leaves_no_event():
    product = kettle()

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), transaction.atomic():
        inventory_api.restock(product_id=product.id, quantity=4)
        raise Abandoned
    assert restocked() == [], "a restock that rolled back left its event in the outbox"
    assert StockLevel.objects.get(product_id=product.id).available == 10


def test_a_consumer_rebuilds_the_event_from_its_envelope():
    event_class = events_module().StockRestocked
    event = event_class(product_id=7, quantity=3, available=12)
    envelope = event.envelope()
    assert envelope["event_type"] == "stock.restocked"
    rebuilt = event_class.from_envelope(envelope)
    assert rebuilt == event, f"from_envelope(envelope()) gave {rebuilt!r}, not {event!r}"
    assert isinstance(rebuilt.event_id, uuid.UUID)
