"""Money: integer cents inside, a two-decimal string at the edge. No database."""

from decimal import Decimal

import pytest
from kernel.money import cents_to_str, decimal_to_cents

from tests.clients import assert_no_floats


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "0.00"), (1, "0.01"), (99, "0.99"), (100, "1.00"), (1250, "12.50"), (123456, "1234.56")],
)
def test_cents_become_a_two_decimal_string(cents, text):
    assert cents_to_str(cents) == text


@pytest.mark.parametrize(
    ("amount", "cents"),
    [("0.01", 1), ("12.5", 1250), ("12.50", 1250), ("99.99", 9999), ("1000000.00", 100000000)],
)
def test_a_decimal_amount_becomes_exact_cents(amount, cents):
    assert decimal_to_cents(Decimal(amount)) == cents


def test_a_price_survives_the_round_trip_through_the_edge():
    for cents in range(0, 100_000, 7):
        assert decimal_to_cents(Decimal(cents_to_str(cents))) == cents


def test_decimal_to_cents_avoids_the_float_error_of_naive_conversion():
    # 0.29 * 100 is 28.999999999999996 as a float: int() of it loses a cent.
    assert int(float("0.29") * 100) == 28
    assert decimal_to_cents(Decimal("0.29")) == 29


def test_the_suite_rejects_a_float_anywhere_in_a_response():
    # tests/clients.py runs this check on every JSON response of every API test.
    assert_no_floats({"items": [{"unit_price": "12.50", "quantity": 2}], "total": "25.00"})
    with pytest.raises(AssertionError, match=r"\$\.items\[0\]\.unit_price is a float"):
        assert_no_floats({"items": [{"unit_price": 12.5, "quantity": 2}], "total": "25.00"})
