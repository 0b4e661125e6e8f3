"""Payments' public api: one charge per order, refunds, the fake provider's tokens."""

import uuid

import pytest
from django.db import IntegrityError
from kernel.errors import PaymentDeclined
from payments import api as payments_api
from payments.models import Charge


def test_an_approved_token_records_one_charge_of_the_amount(db):
    order_id = uuid.uuid4()

    receipt = payments_api.charge(order_id=order_id, amount_cents=2500, token="tok_visa")

    assert (receipt.order_id, receipt.amount_cents, receipt.status) == (order_id, 2500, "succeeded")
    assert receipt.provider_reference.startswith("ch_")
    assert Charge.objects.get().provider_reference == receipt.provider_reference


def test_a_declined_token_raises_and_records_nothing(db):
    with pytest.raises(PaymentDeclined):
        payments_api.charge(order_id=uuid.uuid4(), amount_cents=2500, token="tok_chargeDeclined")

    assert not Charge.objects.exists()


def test_an_order_cannot_be_charged_twice(db):
    order_id = uuid.uuid4()
    payments_api.charge(order_id=order_id, amount_cents=100, token="tok_visa")

    with pytest.raises(IntegrityError):
        payments_api.charge(order_id=order_id, amount_cents=100, token="tok_visa")


def test_refunding_twice_refunds_once(db):
    order_id = uuid.uuid4()
    payments_api.charge(order_id=order_id, amount_cents=100, token="tok_visa")

    first = payments_api.refund(order_id=order_id)
    refunded_at = Charge.objects.get().refunded_at
    second = payments_api.refund(order_id=order_id)

    assert first.status == second.status == "refunded"
    assert Charge.objects.get().refunded_at == refunded_at


@pytest.mark.parametrize(
    ("token", "known"),
    [("tok_visa", True), ("tok_mastercard", True), ("tok_chargeDeclined", True), ("tok_x", False)],
)
def test_the_provider_knows_its_test_tokens(token, known):
    assert payments_api.is_known_token(token) is known
