"""catalog.api behind both backends: the monolith's tables and the catalog service (gRPC).

Branch by abstraction is safe only if a caller cannot tell the two apart, so each test here
runs twice (the `catalog_backend` fixture) and asserts the same outcome both times, through
catalog.api and through the public HTTP API, checkout included.
"""

import inspect
from unittest import mock

import pytest
from catalog import api as catalog_api
from catalog import remote
from catalog.types import CatalogBackend
from inventory import api as inventory_api
from kernel.errors import NotFound, ValidationFailed


def create(unique: str, n: int = 1, **fields) -> catalog_api.Product:
    values = {
        "sku": f"T-{unique}-{n}",
        "name": f"Teapot {n}",
        "description": "Holds tea.",
        "category": f"cat-{unique}",
        "price_cents": 1250,
    }
    return catalog_api.product_create(**{**values, **fields})


def _interface() -> dict[str, list[tuple[str, inspect._ParameterKind]]]:
    """CatalogBackend's functions, each with its parameters (names and kinds, less self)."""
    return {
        name: [
            (parameter.name, parameter.kind)
            for parameter in inspect.signature(function).parameters.values()
            if parameter.name != "self"
        ]
        for name, function in vars(CatalogBackend).items()
        if not name.startswith("_") and callable(function)
    }


@pytest.mark.parametrize("name", sorted(catalog_api.BACKENDS))
def test_each_backend_provides_the_interface_with_its_signatures(name):
    backend = catalog_api.BACKENDS[name]
    implemented = {
        function: [
            (parameter.name, parameter.kind)
            for parameter in inspect.signature(getattr(backend, function)).parameters.values()
        ]
        for function in _interface()
        if callable(getattr(backend, function, None))
    }

    assert implemented == _interface()


def test_a_created_product_reads_back_the_same(catalog_backend, unique):
    created = create(unique, price_cents=1999)

    assert created.id > 0
    assert catalog_api.product_get(product_id=created.id) == created
    assert created == catalog_api.Product(
        id=created.id,
        sku=f"T-{unique}-1",
        name="Teapot 1",
        description="Holds tea.",
        category=f"cat-{unique}",
        price_cents=1999,
    )


def test_many_products_by_id_leave_unknown_ids_out(catalog_backend, unique):
    first, second = create(unique, 1), create(unique, 2)

    found = catalog_api.products_get_many(product_ids=[second.id, 2**62, first.id, first.id])

    assert found == {first.id: first, second.id: second}


def test_an_update_changes_only_the_fields_given(catalog_backend, unique):
    product = create(unique)

    updated = catalog_api.product_update(
        product_id=product.id, price_cents=2500, category=f"new-{unique}"
    )

    assert updated.price_cents == 2500
    assert updated.category == f"new-{unique}"
    assert (updated.name, updated.description, updated.sku) == (
        product.name,
        product.description,
        product.sku,
    )
    assert catalog_api.product_get(product_id=product.id) == updated


def test_unknown_products_are_not_found(catalog_backend):
    with pytest.raises(NotFound):
        catalog_api.product_get(product_id=2**62)
    with pytest.raises(NotFound):
        catalog_api.product_update(product_id=2**62, name="Ghost")


def test_a_duplicate_sku_is_a_validation_error_on_sku(catalog_backend, unique):
    create(unique)

    with pytest.raises(ValidationFailed) as raised:
        create(unique, name="Again")

    assert list(raised.value.fields) == ["sku"]


def test_a_search_filters_and_pages_in_id_order(catalog_backend, unique):
    teapots = [create(unique, n) for n in range(5)]
    create(unique, 99, name="Kettle")

    search = catalog_api.product_search(q="TEAPOT", category=f"cat-{unique}")

    assert search.count() == 5
    assert search[0:2] == teapots[0:2]
    assert search[2:4] == teapots[2:4]
    assert search[4:5] == teapots[4:5]  # the last page, cut short


def test_the_http_list_pages_the_same_way(catalog_backend, unique, api_client):
    products = [create(unique, n) for n in range(5)]

    response = api_client.get(f"/api/products/?category=cat-{unique}&page_size=2&page=3")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    assert [product["id"] for product in body["results"]] == [products[4].id]
    assert body["next"] is None
    assert body["previous"].endswith(f"?category=cat-{unique}&page=2&page_size=2")
    assert api_client.get(f"/api/products/?category=cat-{unique}&page=4").status_code == 404


def test_a_page_over_grpc_is_one_call_to_the_service(settings, catalog_service, unique, api_client):
    settings.SHOP_CATALOG_GRPC_TARGET = catalog_service
    settings.SHOP_CATALOG_BACKEND = "grpc"
    for n in range(5):
        create(unique, n)
    service = remote._stub()
    real = service.ListProducts
    pages = []

    def list_products(request, **options):
        pages.append((request.page, request.page_size))
        return real(request, **options)

    with mock.patch.object(service, "ListProducts", list_products):
        response = api_client.get(f"/api/products/?category=cat-{unique}&page_size=2&page=2")

    assert response.json()["count"] == 5
    assert pages == [(2, 2)]  # the page's answer carries the total: no call for the count


def test_staff_writes_through_the_monolith_reach_the_catalog(catalog_backend, unique, staff_client):
    response = staff_client.post(
        "/api/products/",
        {"sku": f"W-{unique}", "name": "Mug", "category": f"cat-{unique}", "price": "4.50"},
    )
    assert response.status_code == 201, response.json()
    product_id = response.json()["id"]

    response = staff_client.patch(f"/api/products/{product_id}/", {"price": "5.00"})

    assert response.status_code == 200
    assert catalog_api.product_get(product_id=product_id).price_cents == 500
    duplicate = staff_client.post(
        "/api/products/",
        {"sku": f"W-{unique}", "name": "Mug", "category": f"cat-{unique}", "price": "4.50"},
    )
    assert duplicate.status_code == 400
    assert list(duplicate.json()["error"]["fields"]) == ["sku"]


def test_a_checkout_prices_its_lines_from_the_catalog(catalog_backend, unique, api_client):
    teapot = create(unique, price_cents=1250)
    inventory_api.restock(product_id=teapot.id, quantity=5)
    cart_id = api_client.post("/api/carts/").json()["id"]
    added = api_client.post(
        f"/api/carts/{cart_id}/items/", {"product_id": teapot.id, "quantity": 2}
    )
    assert added.status_code == 201, added.json()
    catalog_api.product_update(product_id=teapot.id, price_cents=1500)  # the cart shows today's

    response = api_client.post(
        "/api/orders/", {"cart_id": cart_id, "email": "a@example.com", "payment_token": "tok_visa"}
    )

    assert response.status_code == 201, response.json()
    order = response.json()
    assert order["total"] == "30.00"
    assert order["items"][0]["name"] == "Teapot 1"
    assert inventory_api.available(product_id=teapot.id) == 3


def test_an_unknown_product_in_a_cart_is_a_validation_error(catalog_backend, api_client):
    cart_id = api_client.post("/api/carts/").json()["id"]

    response = api_client.post(f"/api/carts/{cart_id}/items/", {"product_id": 2**62, "quantity": 1})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["product_id"]
