"""The management commands of `make run`'s release step: seed_demo and ensure_staff."""

import io

import pytest
from catalog import api as catalog_api
from catalog.models import Category, Product
from django.contrib.auth import get_user_model
from django.core.management import call_command
from inventory import api as inventory_api
from inventory.models import StockLevel


def test_seed_demo_is_idempotent(db):
    call_command("seed_demo", stdout=io.StringIO())
    output = io.StringIO()

    call_command("seed_demo", stdout=output)

    assert Product.objects.count() == 246
    assert StockLevel.objects.count() == 246
    assert Category.objects.count() == 7
    assert "0 products created, 246 already there" in output.getvalue()
    assert "0 stock levels created" in output.getvalue()


@pytest.mark.django_db(transaction=True, reset_sequences=True)  # ids from 1, as on a new database
def test_after_seeding_a_new_product_gets_an_id_past_the_demo_ids():
    # seed_demo inserts explicit ids: on PostgreSQL the id sequence must then be moved past
    # them, or the next product would be given a demo product's id and the insert would fail.
    # (SQLite's AUTOINCREMENT looks at the largest id by itself.)
    call_command("seed_demo", stdout=io.StringIO())

    product = catalog_api.product_create(
        sku="NEW-0001", name="Brand New", description="", category="books", price_cents=500
    )
    call_command("seed_demo", stdout=io.StringIO())

    assert product.id > 246
    assert Product.objects.count() == 247


def test_ensure_staff_creates_a_staff_user_who_can_log_in(db, settings):
    settings.SHOP_STAFF_USER = "boss"
    settings.SHOP_STAFF_PASSWORD = "s3cret"

    call_command("ensure_staff", stdout=io.StringIO())
    call_command("ensure_staff", stdout=io.StringIO())

    user = get_user_model().objects.get()
    assert (user.username, user.is_staff) == ("boss", True)
    assert user.check_password("s3cret")


def test_ensure_staff_never_changes_an_existing_users_password(db, settings):
    get_user_model().objects.create_user(username="boss", password="changed-since", is_staff=True)
    settings.SHOP_STAFF_USER = "boss"
    settings.SHOP_STAFF_PASSWORD = "s3cret"
    output = io.StringIO()

    call_command("ensure_staff", stdout=output)

    assert get_user_model().objects.get().check_password("changed-since")
    assert "exists, left as it is" in output.getvalue()


def test_ensure_staff_without_a_password_creates_no_user(db, settings):
    settings.SHOP_STAFF_PASSWORD = ""  # production's default: no well-known password
    output = io.StringIO()

    call_command("ensure_staff", stdout=output)

    assert not get_user_model().objects.exists()
    assert "no SHOP_STAFF_PASSWORD" in output.getvalue()


def test_seeded_products_have_their_stock(demo_catalog):
    assert inventory_api.available(product_id=1) == 1_000_000
    assert inventory_api.available(product_id=246) == 3
