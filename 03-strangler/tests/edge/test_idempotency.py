"""Idempotency-Key at the edge: one order per key, the key freed by a failed checkout."""

import pytest
from edge.idempotency import place_order_once
from inventory.models import StockLevel
from kernel.errors import IdempotencyKeyReused, PaymentDeclined
from payments.models import Charge


def test_place_order_once_replays_the_first_order_for_the_same_key(make_product, make_cart):
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 1)])
    arguments = dict(
        idempotency_key="key-1",
        request_fingerprint="body-a",
        cart_id=cart.id,
        email="ada@example.com",
        payment_token="tok_visa",
    )

    first, first_replayed = place_order_once(**arguments)
    again, again_replayed = place_order_once(**arguments)

    assert (first_replayed, again_replayed) == (False, True)
    assert again == first
    assert Charge.objects.count() == 1
    assert StockLevel.objects.get(product_id=kettle.id).available == 9


def test_the_same_key_with_another_fingerprint_is_refused(make_product, make_cart):
    cart = make_cart([(make_product(), 1)])
    arguments = dict(idempotency_key="key-1", cart_id=cart.id, email="a@b.example")
    place_order_once(**arguments, request_fingerprint="body-a", payment_token="tok_visa")

    with pytest.raises(IdempotencyKeyReused):
        place_order_once(**arguments, request_fingerprint="body-b", payment_token="tok_visa")


def test_a_failed_checkout_does_not_use_up_its_idempotency_key(make_product, make_cart):
    cart = make_cart([(make_product(stock=10), 1)])
    arguments = dict(
        idempotency_key="key-1", request_fingerprint="body-a", cart_id=cart.id, email="a@b.example"
    )
    with pytest.raises(PaymentDeclined):
        place_order_once(**arguments, payment_token="tok_chargeDeclined")

    order, replayed = place_order_once(**arguments, payment_token="tok_visa")

    assert not replayed
    assert order.status == "confirmed"
