"""The cart API: create a cart, put products in it, change and remove them."""

import uuid

import pytest
from catalog import api as catalog_api
from ordering import api as ordering_api


def cart_url(cart) -> str:
    return f"/api/carts/{cart.id}/"


def items_url(cart, product=None) -> str:
    return f"/api/carts/{cart.id}/items/" + (f"{product.id}/" if product else "")


def quantities(response) -> dict[int, int]:
    return {item["product_id"]: item["quantity"] for item in response.json()["items"]}


def test_a_new_cart_is_open_and_empty(api_client, db):
    response = api_client.post("/api/carts/")

    assert response.status_code == 201
    cart = response.json()
    assert cart == {
        "id": cart["id"],
        "status": "open",
        "items": [],
        "total": "0.00",
        "currency": "EUR",
    }
    assert uuid.UUID(cart["id"])
    assert api_client.get(f"/api/carts/{cart['id']}/").json() == cart


def test_a_cart_shows_its_items_and_totals(api_client, make_product, make_cart):
    kettle = make_product(sku="KI-0001", name="Kettle", price_cents=1250)
    teapot = make_product(sku="KI-0002", name="Teapot", price_cents=799)
    cart = make_cart([(kettle, 2), (teapot, 1)])

    response = api_client.get(cart_url(cart))

    assert response.status_code == 200
    assert response.json() == {
        "id": str(cart.id),
        "status": "open",
        "items": [
            {
                "product_id": kettle.id,
                "sku": "KI-0001",
                "name": "Kettle",
                "unit_price": "12.50",
                "quantity": 2,
                "line_total": "25.00",
            },
            {
                "product_id": teapot.id,
                "sku": "KI-0002",
                "name": "Teapot",
                "unit_price": "7.99",
                "quantity": 1,
                "line_total": "7.99",
            },
        ],
        "total": "32.99",
        "currency": "EUR",
    }


def test_a_cart_shows_current_catalog_prices(api_client, make_product, make_cart):
    kettle = make_product(price_cents=1250)
    cart = make_cart([(kettle, 2)])

    catalog_api.product_update(product_id=kettle.id, price_cents=1000)

    assert api_client.get(cart_url(cart)).json()["total"] == "20.00"


@pytest.mark.parametrize("cart_id", [uuid.uuid4(), "not-a-uuid"])
def test_an_unknown_cart_is_not_found(api_client, db, cart_id):
    response = api_client.get(f"/api/carts/{cart_id}/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- adding ----------------------------------------------------------------------------------
def test_adding_a_product_returns_the_cart(api_client, make_product, make_cart):
    kettle = make_product(price_cents=1250)
    cart = make_cart()

    response = api_client.post(items_url(cart), {"product_id": kettle.id, "quantity": 2})

    assert response.status_code == 201
    assert quantities(response) == {kettle.id: 2}
    assert response.json()["total"] == "25.00"


def test_adding_a_product_already_in_the_cart_adds_to_its_quantity(
    api_client, make_product, make_cart
):
    kettle = make_product()
    cart = make_cart([(kettle, 2)])

    response = api_client.post(items_url(cart), {"product_id": kettle.id, "quantity": 3})

    assert response.status_code == 201
    assert quantities(response) == {kettle.id: 5}


def test_adding_does_not_check_stock(api_client, make_product, make_cart):
    sold_out = make_product(stock=0)

    response = api_client.post(items_url(make_cart()), {"product_id": sold_out.id, "quantity": 5})

    assert response.status_code == 201


@pytest.mark.parametrize("quantity", [0, 100, -1, "two", None])
def test_a_quantity_outside_1_to_99_is_a_validation_error(
    api_client, make_product, make_cart, quantity
):
    body = {"product_id": make_product().id, "quantity": quantity}

    response = api_client.post(items_url(make_cart()), body)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["quantity"]


def test_adding_beyond_99_on_one_line_is_a_validation_error(api_client, make_product, make_cart):
    kettle = make_product()
    cart = make_cart([(kettle, 98)])

    response = api_client.post(items_url(cart), {"product_id": kettle.id, "quantity": 2})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["quantity"]
    assert quantities(api_client.get(cart_url(cart))) == {kettle.id: 98}


def test_adding_an_unknown_product_is_a_validation_error_on_product_id(api_client, make_cart):
    response = api_client.post(items_url(make_cart()), {"product_id": 999_999, "quantity": 1})

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "validation_error",
            "message": "The request is not valid.",
            "fields": {"product_id": ["No product with id 999999."]},
        }
    }


def test_adding_to_an_unknown_cart_is_not_found(api_client, make_product):
    kettle = make_product()

    response = api_client.post(
        f"/api/carts/{uuid.uuid4()}/items/", {"product_id": kettle.id, "quantity": 1}
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- changing and removing -------------------------------------------------------------------
def test_setting_the_quantity_of_an_item(api_client, make_product, make_cart):
    kettle = make_product()
    cart = make_cart([(kettle, 2)])

    response = api_client.put(items_url(cart, kettle), {"quantity": 7})

    assert response.status_code == 200
    assert quantities(response) == {kettle.id: 7}


def test_setting_an_invalid_quantity_is_a_validation_error(api_client, make_product, make_cart):
    kettle = make_product()
    cart = make_cart([(kettle, 2)])

    response = api_client.put(items_url(cart, kettle), {"quantity": 100})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["quantity"]


def test_removing_an_item(api_client, make_product, make_cart):
    kettle = make_product()
    teapot = make_product()
    cart = make_cart([(kettle, 2), (teapot, 1)])

    response = api_client.delete(items_url(cart, kettle))

    assert response.status_code == 200
    assert quantities(response) == {teapot.id: 1}


@pytest.mark.parametrize("method", ["put", "delete"])
def test_changing_a_product_that_is_not_in_the_cart_is_not_found(
    api_client, make_product, make_cart, method
):
    kettle = make_product()
    teapot = make_product()
    cart = make_cart([(kettle, 2)])

    response = getattr(api_client, method)(items_url(cart, teapot), {"quantity": 1})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert quantities(api_client.get(cart_url(cart))) == {kettle.id: 2}


# --- a checked-out cart ----------------------------------------------------------------------
@pytest.fixture
def checked_out(make_product, make_cart):
    """A cart that was checked out, and the product in it."""
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 1)])
    ordering_api.place_order(cart_id=cart.id, email="ada@example.com", payment_token="tok_visa")
    return cart, kettle


def test_a_checked_out_cart_says_so(api_client, checked_out):
    cart, kettle = checked_out

    response = api_client.get(cart_url(cart))

    assert response.json()["status"] == "checked_out"
    assert quantities(response) == {kettle.id: 1}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "items/", {"quantity": 1}),
        ("put", "items/{product_id}/", {"quantity": 2}),
        ("delete", "items/{product_id}/", None),
    ],
    ids=["add", "set quantity", "remove"],
)
def test_any_change_to_a_checked_out_cart_is_cart_closed(
    api_client, checked_out, method, path, body
):
    cart, kettle = checked_out
    url = cart_url(cart) + path.format(product_id=kettle.id)
    if method == "post":
        body = {**body, "product_id": kettle.id}

    response = getattr(api_client, method)(url, body)

    assert response.status_code == 409
    assert response.json() == {
        "error": {"code": "cart_closed", "message": "This cart was already checked out."}
    }
    assert quantities(api_client.get(cart_url(cart))) == {kettle.id: 1}


def test_checking_out_a_checked_out_cart_again_is_cart_closed(api_client, checked_out):
    cart, _ = checked_out

    response = api_client.post(
        "/api/orders/",
        {"cart_id": str(cart.id), "email": "ada@example.com", "payment_token": "tok_visa"},
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "cart_closed"
