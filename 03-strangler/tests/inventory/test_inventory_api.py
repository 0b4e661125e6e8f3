"""Inventory's public api: reading, restocking, reserving and releasing stock."""

import pytest
from django.db import transaction
from inventory import api as inventory_api
from inventory.models import StockLevel
from kernel.errors import NotFound, OutOfStock


def stock_of(product) -> int:
    return StockLevel.objects.get(product_id=product.id).available


def test_restock_adds_to_what_is_available(make_product):
    kettle = make_product(stock=3)

    assert inventory_api.restock(product_id=kettle.id, quantity=7) == 10
    assert stock_of(kettle) == 10


def test_restocking_an_unknown_product_is_not_found(db):
    with pytest.raises(NotFound):
        inventory_api.restock(product_id=999_999, quantity=1)


def test_a_product_inventory_has_no_row_for_has_nothing_in_stock(make_product):
    # The catalog creates products without telling inventory: no row means 0, not unknown.
    kettle = make_product(stock=0)
    StockLevel.objects.filter(product_id=kettle.id).delete()

    assert inventory_api.available(product_id=kettle.id) == 0
    assert inventory_api.restock(product_id=kettle.id, quantity=5) == 5


def test_reading_the_stock_of_an_unknown_product_is_not_found(db):
    with pytest.raises(NotFound):
        inventory_api.available(product_id=999_999)


def test_reserving_takes_every_quantity(make_product):
    kettle, teapot = make_product(stock=10), make_product(stock=5)

    with transaction.atomic():
        inventory_api.reserve(quantities={kettle.id: 2, teapot.id: 5})

    assert (stock_of(kettle), stock_of(teapot)) == (8, 0)


def test_reserving_more_than_there_is_takes_nothing_and_lists_every_shortage(make_product):
    scarce, plenty, gone = make_product(stock=1), make_product(stock=100), make_product(stock=0)

    with pytest.raises(OutOfStock) as raised, transaction.atomic():
        inventory_api.reserve(quantities={gone.id: 1, scarce.id: 2, plenty.id: 5})

    assert raised.value.details == {
        "shortages": [
            {"product_id": scarce.id, "requested": 2, "available": 1},
            {"product_id": gone.id, "requested": 1, "available": 0},
        ]
    }
    assert (stock_of(scarce), stock_of(plenty), stock_of(gone)) == (1, 100, 0)


def test_releasing_puts_the_units_back(make_product):
    kettle = make_product(stock=4)

    with transaction.atomic():
        inventory_api.release(quantities={kettle.id: 6})

    assert stock_of(kettle) == 10
