"""The catalog API: browsing products (anyone) and creating or changing them (staff)."""

import pytest
from catalog.models import Category

PRODUCTS = "/api/products/"


# --- the list and its pages ------------------------------------------------------------------
def test_the_product_list_is_paginated_20_at_a_time(api_client, demo_catalog):
    response = api_client.get(PRODUCTS)

    assert response.status_code == 200
    page = response.json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 246
    assert page["next"] == "http://testserver/api/products/?page=2"
    assert page["previous"] is None
    assert [product["id"] for product in page["results"]] == list(range(1, 21))


def test_a_product_in_the_list_has_the_shape_of_api_md(api_client, make_product):
    kettle = make_product(
        sku="KI-9001", name="Kettle", description="Boils.", category="kitchen", price_cents=1250
    )

    [product] = api_client.get(PRODUCTS).json()["results"]

    assert product == {
        "id": kettle.id,
        "sku": "KI-9001",
        "name": "Kettle",
        "description": "Boils.",
        "category": "kitchen",
        "price": "12.50",
        "currency": "EUR",
    }


def test_the_last_page_links_back_and_not_forward(api_client, demo_catalog):
    page = api_client.get(PRODUCTS, {"page": 13}).json()

    assert page["next"] is None
    assert page["previous"] == "http://testserver/api/products/?page=12"
    assert [product["id"] for product in page["results"]] == list(range(241, 247))


@pytest.mark.parametrize(("asked", "served"), [(5, 5), (100, 100), (101, 100), (1000, 100)])
def test_page_size_is_capped_at_100(api_client, demo_catalog, asked, served):
    page = api_client.get(PRODUCTS, {"page_size": asked}).json()

    assert len(page["results"]) == served
    assert page["count"] == 246


@pytest.mark.parametrize("page", ["14", "0", "-1", "abc"])
def test_a_page_that_is_not_a_positive_integer_or_lies_past_the_end_is_not_found(
    api_client, demo_catalog, page
):
    response = api_client.get(PRODUCTS, {"page": page})

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_page_1_of_an_empty_result_is_an_empty_page(api_client, db):
    response = api_client.get(PRODUCTS)

    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_products_are_ordered_by_id(api_client, make_product):
    ids = [make_product(name=name).id for name in ("Zither", "Accordion", "Mandolin")]

    assert [product["id"] for product in api_client.get(PRODUCTS).json()["results"]] == ids


# --- filters ---------------------------------------------------------------------------------
def names(response) -> list[str]:
    return [product["name"] for product in response.json()["results"]]


def test_q_searches_names_and_descriptions_case_insensitively(api_client, make_product):
    make_product(name="Copper Kettle", description="For tea.")
    make_product(name="Teapot", description="Pairs well with a KETTLE.")
    make_product(name="Garden Rake", description="For leaves.")

    assert names(api_client.get(PRODUCTS, {"q": "kettle"})) == ["Copper Kettle", "Teapot"]
    assert names(api_client.get(PRODUCTS, {"q": "LEAVES"})) == ["Garden Rake"]


def test_category_filters_by_slug(api_client, make_product):
    make_product(name="Kettle", category="kitchen")
    make_product(name="Rake", category="garden")
    make_product(name="Teapot", category="kitchen")

    assert names(api_client.get(PRODUCTS, {"category": "kitchen"})) == ["Kettle", "Teapot"]
    assert names(api_client.get(PRODUCTS, {"category": "toys"})) == []


def test_q_and_category_combine(api_client, make_product):
    make_product(name="Kitchen Lantern", category="kitchen")
    make_product(name="Garden Lantern", category="garden")

    response = api_client.get(PRODUCTS, {"q": "lantern", "category": "garden"})

    assert names(response) == ["Garden Lantern"]
    assert response.json()["count"] == 1


def test_a_search_with_no_match_is_an_empty_page(api_client, demo_catalog):
    response = api_client.get(PRODUCTS, {"q": "no such thing"})

    assert response.status_code == 200
    assert response.json()["results"] == []


# --- one product -----------------------------------------------------------------------------
def test_a_product_is_found_by_id(api_client, make_product):
    kettle = make_product(sku="KI-9001", price_cents=999)

    response = api_client.get(f"{PRODUCTS}{kettle.id}/")

    assert response.status_code == 200
    assert response.json()["sku"] == "KI-9001"
    assert response.json()["price"] == "9.99"


def test_an_unknown_product_is_not_found(api_client, db):
    response = api_client.get(f"{PRODUCTS}999999/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- staff: create ---------------------------------------------------------------------------
NEW_PRODUCT = {
    "sku": "NEW-0001",
    "name": "Brand New Kettle",
    "description": "Whistles.",
    "category": "kitchen",
    "price": "24.90",
}


def test_staff_create_a_product_with_no_stock(staff_client, api_client, db):
    response = staff_client.post(PRODUCTS, NEW_PRODUCT)

    assert response.status_code == 201
    product = response.json()
    assert product == {**NEW_PRODUCT, "id": product["id"], "currency": "EUR"}
    assert api_client.get(f"/api/inventory/{product['id']}/").json()["available"] == 0


def test_a_new_category_slug_creates_the_category(staff_client, db):
    response = staff_client.post(PRODUCTS, {**NEW_PRODUCT, "category": "tea-2026"})

    assert response.status_code == 201
    assert Category.objects.filter(slug="tea-2026").exists()


@pytest.mark.django_db(transaction=True, reset_sequences=True)  # ids from 1, as on a new database
def test_a_product_created_after_seeding_gets_an_id_past_the_demo_ids(staff_client, demo_catalog):
    response = staff_client.post(PRODUCTS, NEW_PRODUCT)

    assert response.status_code == 201
    assert response.json()["id"] > 246


def test_a_duplicate_sku_is_a_validation_error_on_sku(staff_client, make_product):
    make_product(sku="NEW-0001")

    response = staff_client.post(PRODUCTS, NEW_PRODUCT)

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "validation_error",
            "message": "The request is not valid.",
            "fields": {"sku": ["A product with this sku already exists."]},
        }
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "0.00"}, "price"),
        ({"price": "-5.00"}, "price"),
        ({"price": "1.999"}, "price"),
        ({"price": "cheap"}, "price"),
        ({"category": "Not A Slug"}, "category"),
        ({"sku": ""}, "sku"),
        ({"name": "x" * 201}, "name"),
    ],
)
def test_an_invalid_product_is_a_validation_error_on_that_field(staff_client, db, change, field):
    response = staff_client.post(PRODUCTS, {**NEW_PRODUCT, **change})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert list(response.json()["error"]["fields"]) == [field]


def test_missing_fields_are_each_named(staff_client, db):
    response = staff_client.post(PRODUCTS, {})

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"sku", "name", "category", "price"}


# --- staff: change ---------------------------------------------------------------------------
def test_staff_change_some_fields_of_a_product(staff_client, make_product):
    kettle = make_product(name="Kettle", description="Boils.", category="kitchen")

    response = staff_client.patch(
        f"{PRODUCTS}{kettle.id}/", {"price": "19.99", "category": "tea-things"}
    )

    assert response.status_code == 200
    assert response.json() == {
        "id": kettle.id,
        "sku": kettle.sku,
        "name": "Kettle",
        "description": "Boils.",
        "category": "tea-things",
        "price": "19.99",
        "currency": "EUR",
    }


def test_changing_an_unknown_product_is_not_found(staff_client, db):
    response = staff_client.patch(f"{PRODUCTS}999999/", {"name": "Ghost"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_invalid_change_is_a_validation_error(staff_client, make_product):
    kettle = make_product(price_cents=1250)

    response = staff_client.patch(f"{PRODUCTS}{kettle.id}/", {"price": "0"})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["price"]


# --- staff only ------------------------------------------------------------------------------
@pytest.fixture
def kettle_url(make_product) -> str:
    return f"{PRODUCTS}{make_product().id}/"


def test_creating_a_product_without_credentials_is_not_authenticated(api_client, db):
    response = api_client.post(PRODUCTS, NEW_PRODUCT)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Basic realm="api"'


def test_changing_a_product_without_credentials_is_not_authenticated(api_client, kettle_url):
    response = api_client.patch(kettle_url, {"name": "Mine now"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_customer_cannot_create_or_change_products(customer_client, kettle_url):
    created = customer_client.post(PRODUCTS, NEW_PRODUCT)
    changed = customer_client.patch(kettle_url, {"name": "Mine now"})

    for response in (created, changed):
        assert response.status_code == 403
        assert response.json() == {
            "error": {"code": "permission_denied", "message": "You are not allowed to do this."}
        }
