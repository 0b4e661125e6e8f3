"""`seed_stock`: the demo stock of chassis.demo_data, once, whatever the number of runs."""

import io

import pytest
from chassis.demo_data import AMPLE_STOCK, LIMITED_STOCK, demo_products
from django.core.management import call_command

from inventory.models import StockLevel

from .conftest import stock_of

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_stock", stdout=out)
    return out.getvalue()


def test_seed_stock_gives_every_demo_product_its_demo_stock():
    output = seed()

    assert output == "seed_stock: 246 stock levels created, 0 already there (246 demo products)\n"
    assert dict(StockLevel.objects.values_list("product_id", "available")) == {
        product.id: product.stock for product in demo_products()
    }
    assert (stock_of(1), stock_of(241)) == (AMPLE_STOCK, LIMITED_STOCK)


def test_seed_stock_again_leaves_existing_levels_alone():
    seed()
    StockLevel.objects.filter(product_id=241).update(available=1)  # the demo sold two

    output = seed()

    assert output == "seed_stock: 0 stock levels created, 246 already there (246 demo products)\n"
    assert stock_of(241) == 1
    assert StockLevel.objects.count() == 246
