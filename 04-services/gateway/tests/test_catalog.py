"""The catalog API through the gateway: browsing (anyone), creating and changing (staff), each
answered by the catalog service over gRPC."""

import pytest
from chassis.errors import NotFound, ValidationFailed
from shop.catalog.v1 import catalog_pb2

from .messages import a_product

PRODUCTS = "/api/products/"


def catalog_of(count: int):
    """A ListProducts answer over `count` products with ids 1..count, as the service pages."""
    products = [a_product(id=number, sku=f"BK-{number:04d}") for number in range(1, count + 1)]

    def list_products(request: catalog_pb2.ListProductsRequest):
        start = (request.page - 1) * request.page_size
        return catalog_pb2.ListProductsResponse(
            products=products[start : start + request.page_size], total_count=count
        )

    return list_products


# --- the list and its pages ------------------------------------------------------------------
def test_the_product_list_is_paginated_20_at_a_time(api_client, services):
    services.catalog.answer("ListProducts", catalog_of(246))

    response = api_client.get(PRODUCTS)

    assert response.status_code == 200
    page = response.json()
    assert page["count"] == 246
    assert page["next"] == "http://testserver/api/products/?page=2"
    assert page["previous"] is None
    assert [product["id"] for product in page["results"]] == list(range(1, 21))


def test_a_product_in_the_list_has_the_shape_of_api_md(api_client, services):
    kettle = a_product(id=7, sku="KI-9001", name="Kettle", description="Boils.", price_cents=1250)
    services.catalog.answer(
        "ListProducts", catalog_pb2.ListProductsResponse(products=[kettle], total_count=1)
    )

    [product] = api_client.get(PRODUCTS).json()["results"]

    assert product == {
        "id": 7,
        "sku": "KI-9001",
        "name": "Kettle",
        "description": "Boils.",
        "category": "kitchen",
        "price": "12.50",
        "currency": "EUR",
    }


def test_a_page_costs_one_call_whose_answer_carries_the_total(api_client, services):
    services.catalog.answer("ListProducts", catalog_of(246))

    page = api_client.get(PRODUCTS, {"page": 13}).json()

    assert page["count"] == 246
    assert page["next"] is None
    assert page["previous"] == "http://testserver/api/products/?page=12"
    assert [product["id"] for product in page["results"]] == list(range(241, 247))
    [only] = services.catalog.requests("ListProducts")
    assert (only.page, only.page_size) == (13, 20)


def test_the_last_page_by_name_needs_the_count_first(api_client, services):
    services.catalog.answer("ListProducts", catalog_of(246))

    page = api_client.get(PRODUCTS, {"page": "last"}).json()

    assert [product["id"] for product in page["results"]] == list(range(241, 247))
    count, last_page = services.catalog.requests("ListProducts")
    assert (count.page, count.page_size) == (1, 1)
    assert (last_page.page, last_page.page_size) == (13, 20)


@pytest.mark.parametrize(("asked", "served"), [(5, 5), (100, 100), (101, 100), (1000, 100)])
def test_page_size_is_capped_at_100(api_client, services, asked, served):
    services.catalog.answer("ListProducts", catalog_of(246))

    page = api_client.get(PRODUCTS, {"page_size": asked}).json()

    assert len(page["results"]) == served
    assert services.catalog.requests("ListProducts")[-1].page_size == served


@pytest.mark.parametrize("page", ["14", "0", "-1", "abc"])
def test_a_page_that_is_not_a_positive_integer_or_lies_past_the_end_is_not_found(
    api_client, services, page
):
    services.catalog.answer("ListProducts", catalog_of(246))

    response = api_client.get(PRODUCTS, {"page": page})

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_page_1_of_an_empty_result_is_an_empty_page(api_client, services):
    services.catalog.answer("ListProducts", catalog_of(0))

    response = api_client.get(PRODUCTS)

    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_the_filters_go_to_the_service(api_client, services):
    services.catalog.answer("ListProducts", catalog_of(3))

    api_client.get(PRODUCTS, {"q": "Kettle", "category": "kitchen"})

    request = services.catalog.requests("ListProducts")[0]
    assert (request.query, request.category) == ("Kettle", "kitchen")


# --- one product -----------------------------------------------------------------------------
def test_a_product_is_found_by_id(api_client, services):
    services.catalog.answer("GetProduct", a_product(id=9, sku="KI-9001", price_cents=999))

    response = api_client.get(f"{PRODUCTS}9/")

    assert response.status_code == 200
    assert (response.json()["sku"], response.json()["price"]) == ("KI-9001", "9.99")
    assert services.catalog.requests("GetProduct")[0].id == 9


def test_an_unknown_product_is_not_found(api_client, services):
    services.catalog.answer("GetProduct", NotFound("No product with id 999999."))

    response = api_client.get(f"{PRODUCTS}999999/")

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No product with id 999999."}
    }


def test_an_id_too_large_for_64_bits_is_not_found_without_asking_the_service(api_client, services):
    response = api_client.get(f"{PRODUCTS}{2**64}/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert services.catalog.calls == []


# --- staff: create ---------------------------------------------------------------------------
NEW_PRODUCT = {
    "sku": "NEW-0001",
    "name": "Brand New Kettle",
    "description": "Whistles.",
    "category": "kitchen",
    "price": "24.90",
}


def test_staff_create_a_product(staff_client, services):
    services.catalog.answer(
        "CreateProduct",
        lambda request: catalog_pb2.Product(
            id=247,
            **{
                field: getattr(request.product, field)
                for field in ("sku", "name", "description", "category", "price_cents", "currency")
            },
        ),
    )

    response = staff_client.post(PRODUCTS, NEW_PRODUCT)

    assert response.status_code == 201
    assert response.json() == {**NEW_PRODUCT, "id": 247, "currency": "EUR"}
    sent = services.catalog.requests("CreateProduct")[0].product
    assert (sent.sku, sent.price_cents, sent.currency) == ("NEW-0001", 2490, "EUR")


def test_a_duplicate_sku_is_a_validation_error_on_sku(staff_client, services):
    services.catalog.answer(
        "CreateProduct", ValidationFailed("sku", "A product with this sku already exists.")
    )

    response = staff_client.post(PRODUCTS, NEW_PRODUCT)

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "validation_error",
            "message": "The request is not valid.",
            "fields": {"sku": ["A product with this sku already exists."]},
        }
    }


def test_the_services_field_names_become_the_apis(staff_client, services):
    services.catalog.answer("CreateProduct", ValidationFailed("price_cents", "Too dear."))

    response = staff_client.post(PRODUCTS, NEW_PRODUCT)

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"price": ["Too dear."]}


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
def test_an_invalid_product_is_refused_before_the_service_is_asked(
    staff_client, services, change, field
):
    response = staff_client.post(PRODUCTS, {**NEW_PRODUCT, **change})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert list(response.json()["error"]["fields"]) == [field]
    assert services.catalog.calls == []


def test_missing_fields_are_each_named(staff_client, services):
    response = staff_client.post(PRODUCTS, {})

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"sku", "name", "category", "price"}


# --- staff: change ---------------------------------------------------------------------------
def test_staff_change_some_fields_of_a_product(staff_client, services):
    services.catalog.answer("UpdateProduct", a_product(id=5, price_cents=1999, category="tea"))

    response = staff_client.patch(f"{PRODUCTS}5/", {"price": "19.99", "category": "tea"})

    assert response.status_code == 200
    assert (response.json()["price"], response.json()["category"]) == ("19.99", "tea")
    request = services.catalog.requests("UpdateProduct")[0]
    assert sorted(request.update_mask.paths) == ["category", "price_cents"]
    assert (request.product.id, request.product.price_cents) == (5, 1999)


def test_changing_an_unknown_product_is_not_found(staff_client, services):
    services.catalog.answer("UpdateProduct", NotFound())

    response = staff_client.patch(f"{PRODUCTS}999999/", {"name": "Ghost"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_invalid_change_is_a_validation_error(staff_client, services):
    response = staff_client.patch(f"{PRODUCTS}5/", {"price": "0"})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["price"]
    assert services.catalog.calls == []


# --- staff only ------------------------------------------------------------------------------
def test_creating_a_product_without_credentials_is_not_authenticated(api_client, services):
    response = api_client.post(PRODUCTS, NEW_PRODUCT)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
    assert services.catalog.calls == []


def test_a_customer_cannot_create_or_change_products(customer_client, services):
    created = customer_client.post(PRODUCTS, NEW_PRODUCT)
    changed = customer_client.patch(f"{PRODUCTS}5/", {"name": "Mine now"})

    for response in (created, changed):
        assert response.status_code == 403
        assert response.json() == {
            "error": {"code": "permission_denied", "message": "You are not allowed to do this."}
        }
    assert services.catalog.calls == []
