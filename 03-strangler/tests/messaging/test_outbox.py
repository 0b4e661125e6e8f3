"""The transactional outbox: an event row commits with its change, or not at all."""

import uuid

import pytest
from django.db import transaction
from inventory.models import StockLevel
from messaging import outbox
from messaging.models import OutboxMessage
from ordering import api as ordering_api
from ordering.events import OrderConfirmed
from ordering.models import Order


def test_the_event_row_is_rolled_back_with_the_order(make_product, make_cart):
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 1)])

    with pytest.raises(RuntimeError, match="the process died"), transaction.atomic():
        ordering_api.place_order(cart_id=cart.id, email="ada@example.com", payment_token="tok_visa")
        assert OutboxMessage.objects.count() == 1  # written inside the transaction...
        raise RuntimeError("the process died before the commit")

    # ...and gone with it: no event can ever be published for an order that does not exist.
    assert not OutboxMessage.objects.exists()
    assert not Order.objects.exists()
    assert StockLevel.objects.get(product_id=kettle.id).available == 10


@pytest.mark.django_db(transaction=True)  # autocommit, as outside any use case
def test_recording_outside_a_transaction_is_refused():
    event = OrderConfirmed(order_id=uuid.uuid4(), email="a@b.example", items=(), total_cents=0)

    with pytest.raises(RuntimeError, match="outside a transaction"):
        outbox.record(event)

    assert not OutboxMessage.objects.exists()
