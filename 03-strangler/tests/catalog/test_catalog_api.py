"""The catalog's public api: dataclasses out, batched lookups, the rules of a product."""

import dataclasses

import pytest
from catalog import api as catalog_api
from catalog.models import Category, Product
from kernel.errors import NotFound, ValidationFailed


def test_a_new_product_may_create_its_category(db):
    product = catalog_api.product_create(
        sku="NEW-0001",
        name="Brand New",
        description="",
        category="brand-new-things",
        price_cents=500,
    )

    assert product.category == "brand-new-things"
    assert Category.objects.filter(slug="brand-new-things").count() == 1


def test_the_api_hands_out_frozen_dataclasses_not_models(make_product):
    kettle = make_product(sku="KI-0001", name="Kettle", price_cents=1250, category="kitchen")

    product = catalog_api.product_get(product_id=kettle.id)

    assert product == catalog_api.Product(
        id=kettle.id,
        sku="KI-0001",
        name="Kettle",
        description="A kettle for the tests.",
        category="kitchen",
        price_cents=1250,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        product.price_cents = 1  # type: ignore[misc]


def test_a_duplicate_sku_is_a_validation_error_on_sku(make_product):
    make_product(sku="DUP-0001")

    with pytest.raises(ValidationFailed) as raised:
        catalog_api.product_create(
            sku="DUP-0001", name="Again", description="", category="kitchen", price_cents=100
        )

    assert list(raised.value.fields) == ["sku"]
    assert Product.objects.filter(sku="DUP-0001").count() == 1


def test_updating_an_unknown_product_is_not_found(db):
    with pytest.raises(NotFound):
        catalog_api.product_update(product_id=999_999, name="Ghost")


@pytest.mark.parametrize("size", [1, 10])
def test_many_products_cost_one_query_and_unknown_ids_are_left_out(
    make_product, django_assert_num_queries, size
):
    products = [make_product() for _ in range(size)]

    with django_assert_num_queries(1):
        found = catalog_api.products_get_many(product_ids=[p.id for p in products] + [999_999])

    assert sorted(found) == sorted(p.id for p in products)


def test_a_search_pages_through_matching_products_in_id_order(make_product):
    teapots = [make_product(name=f"Teapot {n}", category="kitchen") for n in range(3)]
    make_product(name="Kettle", category="kitchen")

    search = catalog_api.product_search(q="teapot", category="kitchen")

    assert search.count() == 3
    assert [product.id for product in search[0:2]] == [teapots[0].id, teapots[1].id]
