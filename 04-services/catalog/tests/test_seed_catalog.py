"""`seed_catalog`: the demo catalog with its fixed ids, idempotent, and ids after it fresh."""

import io

import pytest
from chassis.demo_data import demo_products
from django.core.management import call_command

from catalog import products
from catalog.models import Product

from .conftest import make_product

# reset_sequences: the id sequences start at 1, as in a new database, so that a seed that
# forgot to move them past its ids would make the next create collide.
pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)


def seed() -> str:
    out = io.StringIO()
    call_command("seed_catalog", stdout=out)
    return out.getvalue()


def test_seed_creates_the_246_demo_products_with_their_ids():
    output = seed()

    assert output == "seed_catalog: created 246 demo products, 0 were there already\n"
    demo = {product.id: product for product in demo_products()}
    assert products.get_many(product_ids=list(demo)) == [
        products.Product(
            id=product.id,
            sku=product.sku,
            name=product.name,
            description=product.description,
            category=product.category,
            price_cents=product.price_cents,
        )
        for product in demo.values()
    ]
    assert products.get(product_id=246).sku == "LTD-0006"


def test_seeding_again_creates_nothing_and_leaves_existing_products_alone():
    seed()
    products.update(product_id=1, fields=["price_cents"], price_cents=100)
    Product.objects.filter(id=2).delete()

    output = seed()

    assert output == "seed_catalog: created 1 demo products, 245 were there already\n"
    assert Product.objects.count() == 246
    assert products.get(product_id=1).price_cents == 100  # staff's edit survives a restart
    assert products.get(product_id=2).sku == "BK-0002"


def test_the_next_product_created_after_the_seed_gets_a_fresh_id():
    seed()

    created = make_product()

    assert created.id == 247
