"""The cart API through the gateway: every change is one call to the orders service."""

import uuid

import pytest
from chassis.errors import CartClosed, NotFound, ValidationFailed

from .messages import a_cart, a_line

CART_ID = "3f6c1f4e-7a0e-4c43-9b8e-0c1d2e3f4a5b"


def test_a_new_cart_is_empty(api_client, services):
    services.orders.answer("CreateCart", a_cart(id=CART_ID))

    response = api_client.post("/api/carts/")

    assert response.status_code == 201
    assert response.json() == {
        "id": CART_ID,
        "status": "open",
        "items": [],
        "total": "0.00",
        "currency": "EUR",
    }


def test_a_cart_shows_its_lines_and_total(api_client, services):
    services.orders.answer(
        "GetCart", a_cart(id=CART_ID, items=[a_line(unit_price_cents=1250, quantity=2)])
    )

    response = api_client.get(f"/api/carts/{CART_ID}/")

    assert response.status_code == 200
    assert response.json()["items"] == [
        {
            "product_id": 1,
            "sku": "KI-0001",
            "name": "Kettle",
            "unit_price": "12.50",
            "quantity": 2,
            "line_total": "25.00",
        }
    ]
    assert response.json()["total"] == "25.00"
    assert services.orders.requests("GetCart")[0].cart_id == CART_ID


def test_an_unknown_cart_is_not_found(api_client, services):
    services.orders.answer("GetCart", NotFound())

    assert api_client.get(f"/api/carts/{uuid.uuid4()}/").status_code == 404


def test_a_cart_id_that_is_not_a_uuid_is_not_found(api_client, services):
    assert api_client.get("/api/carts/not-a-uuid/").status_code == 404
    assert services.orders.calls == []


def test_adding_an_item_is_201_with_the_cart(api_client, services):
    services.orders.answer("AddCartItem", a_cart(id=CART_ID, items=[a_line(quantity=3)]))

    response = api_client.post(f"/api/carts/{CART_ID}/items/", {"product_id": 1, "quantity": 3})

    assert response.status_code == 201
    assert response.json()["items"][0]["quantity"] == 3
    request = services.orders.requests("AddCartItem")[0]
    assert (request.cart_id, request.product_id, request.quantity) == (CART_ID, 1, 3)


def test_adding_a_product_the_catalog_does_not_have_is_400_on_product_id(api_client, services):
    services.orders.answer("AddCartItem", ValidationFailed("product_id", "No such product."))

    response = api_client.post(f"/api/carts/{CART_ID}/items/", {"product_id": 9, "quantity": 1})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"product_id": ["No such product."]}


def test_changing_a_checked_out_cart_is_cart_closed(api_client, services):
    services.orders.answer("AddCartItem", CartClosed())

    response = api_client.post(f"/api/carts/{CART_ID}/items/", {"product_id": 1, "quantity": 1})

    assert response.status_code == 409
    assert response.json() == {
        "error": {"code": "cart_closed", "message": "This cart was already checked out."}
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"product_id": 1, "quantity": 0}, "quantity"),
        ({"product_id": 1, "quantity": 100}, "quantity"),
        ({"product_id": 1, "quantity": "two"}, "quantity"),
        ({"product_id": 0, "quantity": 1}, "product_id"),
        ({"product_id": 2**64, "quantity": 1}, "product_id"),
        ({"quantity": 1}, "product_id"),
    ],
)
def test_an_invalid_item_is_refused_before_any_call(api_client, services, body, field):
    response = api_client.post(f"/api/carts/{CART_ID}/items/", body)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    assert services.orders.calls == []


def test_setting_a_lines_quantity(api_client, services):
    services.orders.answer("SetCartItemQuantity", a_cart(id=CART_ID, items=[a_line(quantity=5)]))

    response = api_client.put(f"/api/carts/{CART_ID}/items/1/", {"quantity": 5})

    assert response.status_code == 200
    request = services.orders.requests("SetCartItemQuantity")[0]
    assert (request.cart_id, request.product_id, request.quantity) == (CART_ID, 1, 5)


def test_setting_the_quantity_of_a_product_not_in_the_cart_is_not_found(api_client, services):
    services.orders.answer("SetCartItemQuantity", NotFound())

    response = api_client.put(f"/api/carts/{CART_ID}/items/8/", {"quantity": 5})

    assert response.status_code == 404


def test_a_quantity_over_99_is_refused(api_client, services):
    response = api_client.put(f"/api/carts/{CART_ID}/items/1/", {"quantity": 100})

    assert response.status_code == 400
    assert services.orders.calls == []


def test_removing_a_line(api_client, services):
    services.orders.answer("RemoveCartItem", a_cart(id=CART_ID))

    response = api_client.delete(f"/api/carts/{CART_ID}/items/1/")

    assert response.status_code == 200
    assert response.json()["items"] == []
    assert services.orders.requests("RemoveCartItem")[0].product_id == 1
