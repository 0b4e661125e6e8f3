"""The catalog reads over HTTP: what the proxy routes to the service must be the monolith's
answer exactly (API.md), errors included."""

import pytest
from django.db import OperationalError

from catalog_service.views import ReadinessApi

PRODUCTS = "/api/products/"


def names(response) -> list[str]:
    return [product["name"] for product in response.json()["results"]]


# --- the list --------------------------------------------------------------------------------
def test_a_page_is_rendered_byte_for_byte_as_the_monolith_renders_it(api_client, product_factory):
    kettle = product_factory(
        sku="KI-9001",
        name="Kettle",
        description="Boils. Ça chauffe.",
        category="kitchen",
        price_cents=1250,
    )

    response = api_client.get(PRODUCTS)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    # DRF's compact JSON, UTF-8 unescaped, keys in API.md's order: what the monolith sends.
    expected = (
        f'{{"count":1,"next":null,"previous":null,"results":[{{"id":{kettle.id},"sku":"KI-9001",'
        '"name":"Kettle","description":"Boils. Ça chauffe.","category":"kitchen",'
        '"price":"12.50","currency":"EUR"}]}'
    )
    assert response.content == expected.encode()


def test_the_list_is_ordered_by_id_20_at_a_time_with_links(api_client, product_factory):
    ids = [product_factory(name=f"Thing {n}").id for n in range(45)]

    first = api_client.get(PRODUCTS).json()
    last = api_client.get(PRODUCTS, {"page": 3}).json()

    assert first["count"] == 45
    assert [product["id"] for product in first["results"]] == ids[:20]
    assert first["next"] == "http://testserver/api/products/?page=2"
    assert first["previous"] is None
    assert [product["id"] for product in last["results"]] == ids[40:]
    assert last["next"] is None
    assert last["previous"] == "http://testserver/api/products/?page=2"


@pytest.mark.parametrize(("asked", "served"), [(5, 5), (100, 100), (101, 100), (1000, 100)])
def test_page_size_is_capped_at_100(api_client, product_factory, asked, served):
    for _ in range(101):
        product_factory()

    page = api_client.get(PRODUCTS, {"page_size": asked}).json()

    assert len(page["results"]) == served
    assert page["count"] == 101


@pytest.mark.parametrize("page", ["3", "0", "-1", "abc"])
def test_a_page_that_is_not_positive_or_past_the_end_is_not_found(
    api_client, product_factory, page
):
    for _ in range(21):
        product_factory()

    response = api_client.get(PRODUCTS, {"page": page})

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_an_empty_catalog_is_an_empty_page_1_not_a_404(api_client, db):
    empty = {"count": 0, "next": None, "previous": None, "results": []}

    assert api_client.get(PRODUCTS).json() == empty
    assert api_client.get(PRODUCTS, {"page": 1, "q": "anything"}).json() == empty


def test_a_page_costs_two_queries_whatever_its_size(
    api_client, product_factory, django_assert_num_queries
):
    for _ in range(30):
        product_factory()

    with django_assert_num_queries(2):  # the count, then the page's rows
        assert len(api_client.get(PRODUCTS, {"page_size": 30}).json()["results"]) == 30


# --- filters ---------------------------------------------------------------------------------
def test_q_searches_names_and_descriptions_case_insensitively(api_client, product_factory):
    product_factory(name="Copper Kettle", description="For tea.")
    product_factory(name="Teapot", description="Pairs well with a KETTLE.")
    product_factory(name="Garden Rake", description="For leaves.")

    assert names(api_client.get(PRODUCTS, {"q": "kettle"})) == ["Copper Kettle", "Teapot"]
    assert names(api_client.get(PRODUCTS, {"q": "LEAVES"})) == ["Garden Rake"]


def test_category_filters_by_slug_and_combines_with_q(api_client, product_factory):
    product_factory(name="Kitchen Lantern", category="kitchen")
    product_factory(name="Garden Lantern", category="garden")
    product_factory(name="Teapot", category="kitchen")

    assert names(api_client.get(PRODUCTS, {"category": "kitchen"})) == [
        "Kitchen Lantern",
        "Teapot",
    ]
    assert names(api_client.get(PRODUCTS, {"category": "toys"})) == []
    response = api_client.get(PRODUCTS, {"q": "lantern", "category": "garden"})
    assert names(response) == ["Garden Lantern"]
    assert response.json()["count"] == 1


def test_filters_and_page_size_stay_in_the_links(api_client, product_factory):
    for _ in range(5):
        product_factory(category="kitchen")

    page = api_client.get(PRODUCTS, {"category": "kitchen", "page_size": 2, "page": 2}).json()

    assert page["next"] == "http://testserver/api/products/?category=kitchen&page=3&page_size=2"
    assert page["previous"] == "http://testserver/api/products/?category=kitchen&page_size=2"


def test_a_query_too_long_is_a_validation_error_on_q(api_client, db):
    response = api_client.get(PRODUCTS, {"q": "x" * 201})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert list(response.json()["error"]["fields"]) == ["q"]


# --- one product -----------------------------------------------------------------------------
def test_a_product_is_found_by_id_in_one_query(
    api_client, product_factory, django_assert_num_queries
):
    kettle = product_factory(sku="KI-9001", name="Kettle", category="kitchen", price_cents=999)

    with django_assert_num_queries(1):
        response = api_client.get(f"{PRODUCTS}{kettle.id}/")

    assert response.status_code == 200
    assert response.json() == {
        "id": kettle.id,
        "sku": "KI-9001",
        "name": "Kettle",
        "description": "",
        "category": "kitchen",
        "price": "9.99",
        "currency": "EUR",
    }


def test_an_unknown_product_is_not_found(api_client, db):
    response = api_client.get(f"{PRODUCTS}999999/")

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No product with id 999999."}
    }


def test_an_id_too_large_for_any_database_is_not_found_not_a_500(api_client, db):
    path = f"{PRODUCTS}{2**63}/"

    response = api_client.get(path)

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": f"Nothing at {path}."}}


def test_head_answers_like_get_without_a_body(api_client, product_factory):
    kettle = product_factory()

    response = api_client.head(f"{PRODUCTS}{kettle.id}/")

    assert response.status_code == 200
    assert response.content == b""


# --- what is not here ------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", [PRODUCTS, f"{PRODUCTS}1/"])
def test_writes_are_not_served_here(api_client, db, method, path):
    response = getattr(api_client, method)(path, {"name": "New"}, format="json")

    assert (response.status_code, response["Allow"]) == (405, "GET, HEAD, OPTIONS")
    message = f'Method "{method.upper()}" not allowed.'
    assert response.json() == {"error": {"code": "method_not_allowed", "message": message}}


@pytest.mark.parametrize("path", ["/", "/api/", "/api/carts/", "/api/products", "/nothing/"])
def test_an_unknown_url_is_a_json_404(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": f"Nothing at {path}."}}


# --- health ----------------------------------------------------------------------------------
def test_health_names_the_service(api_client):
    response = api_client.get("/api/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "catalog"}


def test_ready_when_the_database_answers(api_client, db):
    response = api_client.get("/api/health/ready/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_not_ready_when_the_database_does_not_answer(api_client, monkeypatch):
    def database_down() -> None:
        raise OperationalError("could not connect to server")

    monkeypatch.setitem(ReadinessApi.checks, "database", database_down)

    response = api_client.get("/api/health/ready/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {"status": "error", "checks": {"database": "error"}}


def test_every_answer_carries_the_request_id_it_was_given(api_client):
    response = api_client.get("/api/health/", HTTP_X_REQUEST_ID="req-42")

    assert response["X-Request-ID"] == "req-42"
