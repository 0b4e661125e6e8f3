"""The order API through the gateway: checkout is one PlaceOrder (the orders service runs the
saga and keeps the idempotency keys); the gateway validates, passes the Idempotency-Key on,
and renders the answer or the error."""

import re

import pytest
from chassis.errors import (
    CartClosed,
    IdempotencyKeyReused,
    NotFound,
    OutOfStock,
    PaymentDeclined,
    ValidationFailed,
)
from shop.orders.v1 import orders_pb2

from .messages import a_line, an_order

ORDERS = "/api/orders/"
ORDER_ID = "7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CART_ID = "3f6c1f4e-7a0e-4c43-9b8e-0c1d2e3f4a5b"
CHECKOUT = {"cart_id": CART_ID, "email": "ada@example.com", "payment_token": "tok_visa"}


def placed(order: orders_pb2.Order, *, replayed: bool = False) -> orders_pb2.PlaceOrderResponse:
    return orders_pb2.PlaceOrderResponse(order=order, replayed=replayed)


# --- placing an order ------------------------------------------------------------------------
def test_checkout_confirms_the_order_and_says_where_it_is(api_client, services):
    services.orders.answer("PlaceOrder", placed(an_order(id=ORDER_ID, items=[a_line(quantity=2)])))

    response = api_client.post(ORDERS, CHECKOUT)

    assert response.status_code == 201
    assert response["Location"] == f"/api/orders/{ORDER_ID}/"
    assert "Idempotent-Replayed" not in response
    assert response.json() == {
        "id": ORDER_ID,
        "status": "confirmed",
        "email": "ada@example.com",
        "items": [
            {
                "product_id": 1,
                "sku": "KI-0001",
                "name": "Kettle",
                "unit_price": "12.50",
                "quantity": 2,
                "line_total": "25.00",
            }
        ],
        "total": "25.00",
        "currency": "EUR",
        "created_at": "2026-11-24T10:00:00.123456Z",
    }
    [request] = services.orders.requests("PlaceOrder")
    assert (request.cart_id, request.email, request.payment_token) == (
        CART_ID,
        "ada@example.com",
        "tok_visa",
    )
    assert request.idempotency_key == ""


def test_a_time_without_microseconds_is_still_iso_8601_in_utc(api_client, services):
    order = an_order(id=ORDER_ID)
    order.created_at.nanos = 0
    services.orders.answer("GetOrder", order)

    created_at = api_client.get(f"{ORDERS}{ORDER_ID}/").json()["created_at"]

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created_at)


def test_the_idempotency_key_goes_to_the_orders_service(api_client, services):
    services.orders.answer("PlaceOrder", placed(an_order(id=ORDER_ID)))

    api_client.post(ORDERS, CHECKOUT, HTTP_IDEMPOTENCY_KEY="checkout-42")

    assert services.orders.requests("PlaceOrder")[0].idempotency_key == "checkout-42"


def test_a_replayed_checkout_is_the_same_201_with_the_replay_header(api_client, services):
    services.orders.answer("PlaceOrder", placed(an_order(id=ORDER_ID)))
    first = api_client.post(ORDERS, CHECKOUT, HTTP_IDEMPOTENCY_KEY="checkout-42")
    services.orders.answer("PlaceOrder", placed(an_order(id=ORDER_ID), replayed=True))

    again = api_client.post(ORDERS, CHECKOUT, HTTP_IDEMPOTENCY_KEY="checkout-42")

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"] == f"/api/orders/{ORDER_ID}/"
    assert again.json() == first.json()


def test_a_reused_idempotency_key_is_422(api_client, services):
    services.orders.answer("PlaceOrder", IdempotencyKeyReused())

    response = api_client.post(ORDERS, CHECKOUT, HTTP_IDEMPOTENCY_KEY="checkout-42")

    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "code": "idempotency_key_reused",
            "message": "This Idempotency-Key was already used with a different request body.",
        }
    }


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_idempotency_key_outside_1_to_255_characters_is_refused(api_client, services, key):
    response = api_client.post(ORDERS, CHECKOUT, HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert services.orders.calls == []


def test_not_enough_stock_is_409_listing_the_shortages(api_client, services):
    shortages = [{"product_id": 3, "requested": 5, "available": 2}]
    services.orders.answer("PlaceOrder", OutOfStock(shortages))

    response = api_client.post(ORDERS, CHECKOUT)

    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "out_of_stock",
            "message": "Not enough stock for this order.",
            "details": {"shortages": shortages},
        }
    }


def test_a_declined_payment_is_402(api_client, services):
    services.orders.answer("PlaceOrder", PaymentDeclined())

    response = api_client.post(ORDERS, {**CHECKOUT, "payment_token": "tok_chargeDeclined"})

    assert response.status_code == 402
    assert response.json() == {
        "error": {
            "code": "payment_declined",
            "message": "The payment provider declined the charge.",
        }
    }


def test_checking_out_a_closed_cart_is_cart_closed(api_client, services):
    services.orders.answer("PlaceOrder", CartClosed())

    response = api_client.post(ORDERS, CHECKOUT)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "cart_closed"


@pytest.mark.parametrize("reason", ["The cart is empty.", "No such cart."])
def test_an_empty_or_unknown_cart_is_400_on_cart_id(api_client, services, reason):
    services.orders.answer("PlaceOrder", ValidationFailed("cart_id", reason))

    response = api_client.post(ORDERS, CHECKOUT)

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"cart_id": [reason]}


@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard", "tok_chargeDeclined"])
def test_the_providers_tokens_reach_the_orders_service(api_client, services, token):
    services.orders.answer("PlaceOrder", placed(an_order()))

    api_client.post(ORDERS, {**CHECKOUT, "payment_token": token})

    assert services.orders.requests("PlaceOrder")[0].payment_token == token


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"payment_token": "tok_monopoly_money"}, "payment_token", "Unknown payment token."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"cart_id": "not-a-uuid"}, "cart_id", "Must be a valid UUID."),
    ],
)
def test_an_invalid_checkout_is_refused_before_any_call(
    api_client, services, change, field, reason
):
    response = api_client.post(ORDERS, {**CHECKOUT, **change})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [reason]}
    assert services.orders.calls == []


# --- reading and cancelling ------------------------------------------------------------------
def test_an_order_is_found_by_id(api_client, services):
    services.orders.answer("GetOrder", an_order(id=ORDER_ID))

    response = api_client.get(f"{ORDERS}{ORDER_ID}/")

    assert response.status_code == 200
    assert response.json()["id"] == ORDER_ID
    assert services.orders.requests("GetOrder")[0].order_id == ORDER_ID


def test_an_unknown_order_is_not_found(api_client, services):
    services.orders.answer("GetOrder", NotFound())

    assert api_client.get(f"{ORDERS}{ORDER_ID}/").status_code == 404


def test_cancelling_answers_the_cancelled_order(api_client, services):
    services.orders.answer("CancelOrder", an_order(id=ORDER_ID, status="cancelled"))

    response = api_client.post(f"{ORDERS}{ORDER_ID}/cancel/")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert services.orders.requests("CancelOrder")[0].order_id == ORDER_ID
