"""The order API: checkout (with its payment, stock and idempotency rules), reading an order,
cancelling it."""

import re
import uuid

import pytest
from django.db import OperationalError
from inventory.models import StockLevel
from ordering.models import Cart, Order
from payments import api as payments_api
from payments.models import Charge

ORDERS = "/api/orders/"


def checkout_body(cart, **changes) -> dict:
    """The body of POST /api/orders/ for `cart`; keyword arguments replace its fields."""
    body = {"cart_id": str(cart.id), "email": "ada@example.com", "payment_token": "tok_visa"}
    return {**body, **changes}


def stock_of(product) -> int:
    return StockLevel.objects.get(product_id=product.id).available


def assert_nothing_happened(cart, product, stock: int) -> None:
    """The checkout of `cart` left no trace: no order, no charge, stock as it was, cart open."""
    assert not Order.objects.exists()
    assert not Charge.objects.exists()
    assert stock_of(product) == stock
    assert Cart.objects.get(id=cart.id).status == Cart.Status.OPEN


# --- placing an order ------------------------------------------------------------------------
def test_checkout_confirms_the_order_and_says_where_it_is(api_client, make_product, make_cart):
    kettle = make_product(sku="KI-0001", name="Kettle", price_cents=1250, stock=10)
    cart = make_cart([(kettle, 2)])

    response = api_client.post(ORDERS, checkout_body(cart))

    assert response.status_code == 201
    order = response.json()
    assert response["Location"] == f"/api/orders/{order['id']}/"
    assert "Idempotent-Replayed" not in response
    assert order == {
        "id": order["id"],
        "status": "confirmed",
        "email": "ada@example.com",
        "items": [
            {
                "product_id": kettle.id,
                "sku": "KI-0001",
                "name": "Kettle",
                "unit_price": "12.50",
                "quantity": 2,
                "line_total": "25.00",
            }
        ],
        "total": "25.00",
        "currency": "EUR",
        "created_at": order["created_at"],
    }
    # ISO 8601 in UTC; isoformat() leaves out the microseconds when they happen to be 0.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", order["created_at"])
    assert api_client.get(response["Location"]).json() == order


def test_checkout_takes_the_stock_charges_once_and_closes_the_cart(
    api_client, make_product, make_cart
):
    kettle = make_product(price_cents=1250, stock=10)
    cart = make_cart([(kettle, 3)])

    order_id = api_client.post(ORDERS, checkout_body(cart)).json()["id"]

    assert stock_of(kettle) == 7
    assert api_client.get(f"/api/carts/{cart.id}/").json()["status"] == "checked_out"
    charge = Charge.objects.get()
    assert (str(charge.order_id), charge.amount_cents) == (order_id, 3750)


@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard"])
def test_approved_payment_tokens(api_client, make_product, make_cart, token):
    cart = make_cart([(make_product(), 1)])

    response = api_client.post(ORDERS, checkout_body(cart, payment_token=token))

    assert response.status_code == 201
    assert Charge.objects.get().token == token


def test_a_declined_payment_is_402_and_changes_nothing(api_client, make_product, make_cart):
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 2)])

    response = api_client.post(ORDERS, checkout_body(cart, payment_token="tok_chargeDeclined"))

    assert response.status_code == 402
    assert response.json() == {
        "error": {
            "code": "payment_declined",
            "message": "The payment provider declined the charge.",
        }
    }
    assert_nothing_happened(cart, kettle, stock=10)


def test_an_unknown_payment_token_is_a_validation_error(api_client, make_product, make_cart):
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 2)])

    response = api_client.post(ORDERS, checkout_body(cart, payment_token="tok_monopoly_money"))

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"payment_token": ["Unknown payment token."]}
    assert_nothing_happened(cart, kettle, stock=10)


def test_not_enough_stock_is_409_listing_the_shortages_and_changes_nothing(
    api_client, make_product, make_cart
):
    scarce = make_product(stock=2)
    plenty = make_product(stock=100)
    cart = make_cart([(scarce, 5), (plenty, 1)])

    response = api_client.post(ORDERS, checkout_body(cart))

    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "out_of_stock",
            "message": "Not enough stock for this order.",
            "details": {"shortages": [{"product_id": scarce.id, "requested": 5, "available": 2}]},
        }
    }
    assert_nothing_happened(cart, scarce, stock=2)
    assert stock_of(plenty) == 100


def test_checking_out_an_empty_cart_is_a_validation_error_on_cart_id(api_client, make_cart):
    response = api_client.post(ORDERS, checkout_body(make_cart()))

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"cart_id": ["The cart is empty."]}


@pytest.mark.parametrize("cart_id", [str(uuid.UUID(int=1)), "not-a-uuid"])
def test_an_unknown_cart_is_a_validation_error_on_cart_id(api_client, db, cart_id):
    response = api_client.post(
        ORDERS, {"cart_id": cart_id, "email": "ada@example.com", "payment_token": "tok_visa"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert list(response.json()["error"]["fields"]) == ["cart_id"]


def test_missing_or_invalid_fields_are_each_named(api_client, db):
    response = api_client.post(ORDERS, {"email": "not-an-email"})

    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"cart_id", "email", "payment_token"}


def test_an_order_keeps_the_prices_it_was_placed_at(
    api_client, staff_client, make_product, make_cart
):
    kettle = make_product(price_cents=1250)
    order_url = api_client.post(ORDERS, checkout_body(make_cart([(kettle, 2)])))["Location"]

    staff_client.patch(f"/api/products/{kettle.id}/", {"price": "99.00"})

    order = api_client.get(order_url).json()
    assert (order["items"][0]["unit_price"], order["total"]) == ("12.50", "25.00")


def test_every_amount_is_a_string_with_two_decimals(api_client, make_product, make_cart):
    cart = make_cart([(make_product(price_cents=1999), 3), (make_product(price_cents=5), 1)])

    order = api_client.post(ORDERS, checkout_body(cart)).json()

    assert [(item["unit_price"], item["line_total"]) for item in order["items"]] == [
        ("19.99", "59.97"),
        ("0.05", "0.05"),
    ]
    assert (order["total"], order["currency"]) == ("60.02", "EUR")


def test_the_largest_order_the_api_allows_is_placed(api_client, make_product, make_cart):
    # 99 units at the highest price a product may have (1,000,000.00): 9,900,000,000 cents,
    # more than a 32-bit integer column holds. PostgreSQL refused it until the totals were
    # made 64-bit (SQLite's integers always are, so only real mode showed the bug).
    most_expensive = make_product(price_cents=100_000_000, stock=99)
    cart = make_cart([(most_expensive, 99)])

    response = api_client.post(ORDERS, checkout_body(cart))

    assert response.status_code == 201
    assert response.json()["total"] == "99000000.00"
    assert Charge.objects.get().amount_cents == 9_900_000_000


def test_a_database_failure_mid_checkout_is_503_and_leaves_nothing_behind(
    api_client, make_product, make_cart, monkeypatch
):
    # The order and its lines are written; then the database goes away while charging.
    def connection_lost(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(payments_api, "charge", connection_lost)
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 2)])

    response = api_client.post(ORDERS, checkout_body(cart))

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "service_unavailable"
    assert_nothing_happened(cart, kettle, stock=10)


# --- Idempotency-Key -------------------------------------------------------------------------
def test_the_same_key_and_body_replay_the_order_without_charging_again(
    api_client, make_product, make_cart
):
    kettle = make_product(stock=10)
    body = checkout_body(make_cart([(kettle, 2)]))

    first = api_client.post(ORDERS, body, HTTP_IDEMPOTENCY_KEY="checkout-1")
    again = api_client.post(ORDERS, body, HTTP_IDEMPOTENCY_KEY="checkout-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in first
    assert again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"]
    assert again.json() == first.json()
    assert Charge.objects.count() == 1
    assert stock_of(kettle) == 8


def test_the_same_body_with_keys_in_another_order_is_the_same_request(
    api_client, make_product, make_cart
):
    body = checkout_body(make_cart([(make_product(), 1)]))
    reordered = dict(reversed(list(body.items())))

    first = api_client.post(ORDERS, body, HTTP_IDEMPOTENCY_KEY="checkout-1")
    again = api_client.post(ORDERS, reordered, HTTP_IDEMPOTENCY_KEY="checkout-1")

    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


def test_the_same_key_with_another_body_is_422(api_client, make_product, make_cart):
    body = checkout_body(make_cart([(make_product(), 1)]))
    api_client.post(ORDERS, body, HTTP_IDEMPOTENCY_KEY="checkout-1")

    response = api_client.post(
        ORDERS, {**body, "email": "eve@example.com"}, HTTP_IDEMPOTENCY_KEY="checkout-1"
    )

    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "idempotency_key_reused",
            "message": "This Idempotency-Key was already used with a different request body.",
        }
    }
    assert Order.objects.get().email == "ada@example.com"


def test_a_declined_checkout_does_not_use_up_its_key(api_client, make_product, make_cart):
    cart = make_cart([(make_product(), 1)])
    declined = checkout_body(cart, payment_token="tok_chargeDeclined")
    assert api_client.post(ORDERS, declined, HTTP_IDEMPOTENCY_KEY="k").status_code == 402

    response = api_client.post(ORDERS, checkout_body(cart), HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


def test_a_key_of_255_characters_is_accepted(api_client, make_product, make_cart):
    body = checkout_body(make_cart([(make_product(), 1)]))

    response = api_client.post(ORDERS, body, HTTP_IDEMPOTENCY_KEY="k" * 255)

    assert response.status_code == 201


@pytest.mark.parametrize("key", ["k" * 256, ""], ids=["256 characters", "empty"])
def test_a_key_outside_1_to_255_characters_is_a_validation_error(
    api_client, make_product, make_cart, key
):
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 1)])

    response = api_client.post(ORDERS, checkout_body(cart), HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert_nothing_happened(cart, kettle, stock=10)


# --- reading and cancelling ------------------------------------------------------------------
def test_an_unknown_order_is_not_found(api_client, db):
    response = api_client.get(f"{ORDERS}{uuid.uuid4()}/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_cancelling_refunds_and_returns_the_stock(api_client, make_product, make_order):
    kettle = make_product(stock=10)
    order = make_order([(kettle, 4)])
    assert stock_of(kettle) == 6

    response = api_client.post(f"{ORDERS}{order.id}/cancel/")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["id"] == str(order.id)
    assert stock_of(kettle) == 10
    assert Charge.objects.get(order_id=order.id).status == Charge.Status.REFUNDED
    assert api_client.get(f"{ORDERS}{order.id}/").json()["status"] == "cancelled"


def test_cancelling_a_cancelled_order_returns_it_again(api_client, make_product, make_order):
    kettle = make_product(stock=10)
    order = make_order([(kettle, 4)])
    first = api_client.post(f"{ORDERS}{order.id}/cancel/")

    again = api_client.post(f"{ORDERS}{order.id}/cancel/")

    assert again.status_code == 200
    assert again.json() == first.json()
    assert stock_of(kettle) == 10


def test_cancelling_an_unknown_order_is_not_found(api_client, db):
    response = api_client.post(f"{ORDERS}{uuid.uuid4()}/cancel/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
