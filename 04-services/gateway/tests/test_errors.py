"""The error envelope of API.md: what the services' gRPC statuses become at the edge (one
exception handler, gateway.http_errors), what a service that is down or too slow becomes, and what
goes wrong before any service is asked (unknown URLs, wrong methods, bodies that are not JSON).
"""

import json
import threading
import time

import grpc
import pytest
from chassis.errors import (
    CartClosed,
    IdempotencyKeyReused,
    InvalidState,
    NotFound,
    OutOfStock,
    PaymentDeclined,
    ServiceUnavailable,
    ValidationFailed,
)
from chassis.grpc_client import RETRY_POLICY
from shop.orders.v1 import orders_pb2

from .conftest import BUDGET, CHECKOUT_BUDGET
from .messages import a_product

# What a test of a deadline allows past it: the thread that answers may wait for a core.
SCHEDULING_ALLOWANCE = 0.25  # seconds

UNAVAILABLE = {
    "error": {
        "code": "service_unavailable",
        "message": "The catalog service is unavailable.",
        "details": {"service": "catalog"},
    }
}
INTERNAL = {"error": {"code": "internal_error", "message": "Something went wrong on our side."}}


# --- a service's status -> the API's error ---------------------------------------------------
@pytest.mark.parametrize(
    ("raised", "status", "error"),
    [
        (NotFound(), 404, {"code": "not_found", "message": "Not found."}),
        (
            ValidationFailed("q", "Too long."),
            400,
            {
                "code": "validation_error",
                "message": "The request is not valid.",
                "fields": {"q": ["Too long."]},
            },
        ),
        (
            OutOfStock([{"product_id": 3, "requested": 5, "available": 2}]),
            409,
            {
                "code": "out_of_stock",
                "message": "Not enough stock for this order.",
                "details": {"shortages": [{"product_id": 3, "requested": 5, "available": 2}]},
            },
        ),
        (
            PaymentDeclined(),
            402,
            {"code": "payment_declined", "message": "The payment provider declined the charge."},
        ),
        (
            CartClosed(),
            409,
            {"code": "cart_closed", "message": "This cart was already checked out."},
        ),
        (
            InvalidState(),
            409,
            {"code": "invalid_state", "message": "The order is not in a state that allows this."},
        ),
        (
            IdempotencyKeyReused(),
            422,
            {
                "code": "idempotency_key_reused",
                "message": "This Idempotency-Key was already used with a different request body.",
            },
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_a_services_error_becomes_the_apis(api_client, services, raised, status, error):
    services.catalog.answer("GetProduct", raised)

    response = api_client.get("/api/products/1/")

    assert response.status_code == status
    assert response.json() == {"error": error}


def test_a_503_names_the_service_that_failed_not_the_one_called(api_client, services):
    # The orders service answers that the catalog, which it called, is down.
    relayed = ServiceUnavailable(
        "The catalog service is unavailable.", details={"service": "catalog"}
    )
    services.orders.answer("GetCart", relayed)

    response = api_client.get("/api/carts/7b1e1f34-8a57-4a2e-9d57-1f1b1b1b1b1b/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == UNAVAILABLE


def test_a_service_that_fails_itself_is_named(api_client, services):
    services.catalog.answer("GetProduct", ServiceUnavailable("Its database is down."))

    response = api_client.get("/api/products/1/")

    assert response.status_code == 503
    assert response.json()["error"]["details"] == {"service": "catalog"}


@pytest.mark.parametrize("code", [grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN])
def test_a_call_cut_off_by_a_stopping_server_is_a_retryable_503(api_client, services, code):
    # What a server that is shutting down (or a process that died mid-call) answers: a bare
    # status, no servicer's error in it.
    def cut_off(request, context):
        context.abort(code, "Cancelling all calls")

    services.catalog.answer_raw("GetProduct", cut_off)

    response = api_client.get("/api/products/1/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == UNAVAILABLE


def test_a_bug_in_a_service_is_a_500_without_its_details(api_client, services, caplog):
    services.catalog.answer("GetProduct", RuntimeError("bug: secret internals"))

    response = api_client.get("/api/products/1/")

    assert response.status_code == 500
    assert response.json() == INTERNAL
    assert b"secret internals" not in response.content


# --- a service down or too slow --------------------------------------------------------------
def test_a_service_that_is_down_is_a_fast_503(api_client, services, settings, nowhere):
    settings.SHOP_GRPC_TARGETS = {**settings.SHOP_GRPC_TARGETS, "catalog": nowhere}
    settings.SHOP_GRPC_TIMEOUT = 5.0

    started = time.monotonic()
    response = api_client.get("/api/products/1/")
    took = time.monotonic() - started

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == UNAVAILABLE
    # Refused at once (and retried twice by the channel): no waiting for the deadline.
    assert took < 2.0


def test_a_write_to_a_service_that_is_down_is_503_too(staff_client, services, settings, nowhere):
    settings.SHOP_GRPC_TARGETS = {**settings.SHOP_GRPC_TARGETS, "orders": nowhere}

    response = staff_client.post("/api/carts/")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


def test_a_service_that_hangs_is_503_within_the_requests_budget(api_client, services, settings):
    released, finished = threading.Event(), threading.Event()
    deadlines_seen = []

    def hang(request, context):
        deadlines_seen.append(context.time_remaining())
        try:
            released.wait(BUDGET * 10)
            return a_product()
        finally:
            finished.set()

    services.catalog.answer_raw("GetProduct", hang)

    started = time.monotonic()
    response = api_client.get("/api/products/1/")
    took = time.monotonic() - started
    released.set()
    finished.wait(5)  # the fake's call ends before the next test's

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"] == {
        "code": "service_unavailable",
        "message": "The catalog service did not answer in time.",
        "details": {"service": "catalog"},
    }
    # The call got the budget less the margin, and the answer came when it ran out, not
    # before; how soon after is the machine's to decide (SCHEDULING_ALLOWANCE).
    margin = settings.SHOP_GRPC_DEADLINE_MARGIN
    [remaining] = deadlines_seen
    assert BUDGET - margin - SCHEDULING_ALLOWANCE < remaining <= BUDGET - margin
    assert BUDGET - margin <= took < BUDGET + SCHEDULING_ALLOWANCE


# --- retries: only what is safe to send twice ------------------------------------------------
def _unreachable(request, context):
    """What a call that never reached a servicer ends with (no pushback: retryable)."""
    context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")


def test_creating_a_cart_is_sent_once_even_if_the_answer_is_lost(api_client, services):
    services.orders.answer_raw("CreateCart", _unreachable)

    response = api_client.post("/api/carts/")

    assert response.status_code == 503
    # It may have opened a cart: a second CreateCart would open another.
    assert len(services.orders.requests("CreateCart")) == 1


def test_reading_a_cart_is_retried_by_the_channel(api_client, services):
    services.orders.answer_raw("GetCart", _unreachable)

    response = api_client.get("/api/carts/7b1e1f34-8a57-4a2e-9d57-1f1b1b1b1b1b/")

    assert response.status_code == 503
    assert len(services.orders.requests("GetCart")) == RETRY_POLICY["maxAttempts"]


# --- a checkout that cannot finish: was the customer charged? -------------------------------
CHECKOUT = {
    "cart_id": "3f6c1f4e-7a0e-4c43-9b8e-0c1d2e3f4a5b",
    "email": "ada@example.com",
    "payment_token": "tok_visa",
}


def test_a_checkout_the_orders_service_gave_up_says_what_it_said_of_the_payment(
    api_client, services
):
    said = ServiceUnavailable(
        "The inventory service is unavailable. Nothing was charged.",
        details={"service": "inventory", "payment": "none"},
    )
    services.orders.answer("PlaceOrder", said)

    response = api_client.post("/api/orders/", CHECKOUT)

    assert response.status_code == 503
    assert response.json()["error"]["details"] == {"service": "inventory", "payment": "none"}


def test_a_checkout_the_orders_service_did_not_answer_may_have_charged(
    api_client, services, settings
):
    released, finished = threading.Event(), threading.Event()
    deadlines_seen = []

    def hang(request, context):
        deadlines_seen.append(context.time_remaining())
        try:
            released.wait(CHECKOUT_BUDGET * 10)
            return orders_pb2.PlaceOrderResponse()
        finally:
            finished.set()

    services.orders.answer_raw("PlaceOrder", hang)

    started = time.monotonic()
    response = api_client.post("/api/orders/", CHECKOUT, HTTP_IDEMPOTENCY_KEY="k-1")
    took = time.monotonic() - started
    released.set()
    finished.wait(5)

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["details"] == {"service": "orders", "payment": "unknown"}
    assert "do not check out again with a new Idempotency-Key" in error["message"]
    # A checkout has the larger budget, and keeps within it: its call carried the checkout's
    # budget (not a plain request's) less the margin kept for answering...
    margin = settings.SHOP_GRPC_DEADLINE_MARGIN
    [remaining] = deadlines_seen
    assert BUDGET < remaining <= CHECKOUT_BUDGET - margin
    # ...and the gateway answered when that deadline passed, not before. How soon after it is
    # the machine's to decide: on a loaded CI machine the answer came 13 ms past the budget.
    assert CHECKOUT_BUDGET - margin <= took < CHECKOUT_BUDGET + SCHEDULING_ALLOWANCE


# --- before any service is asked -------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/nothing-here/", "/api/products", "/", "/api/products/1/x/"])
def test_an_unknown_url_is_a_json_404(api_client, services, path):
    response = api_client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": {"code": "not_found", "message": f"Nothing at {path}."}}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("get", "/api/carts/", "POST, OPTIONS"),
        ("get", "/api/orders/", "POST, OPTIONS"),
        ("delete", "/api/health/", "GET, HEAD, OPTIONS"),
        ("put", "/api/inventory/1/", "GET, HEAD, OPTIONS"),
        ("delete", "/api/products/", "GET, POST, HEAD, OPTIONS"),
    ],
)
def test_a_wrong_method_is_405(api_client, services, method, path, allowed):
    response = getattr(api_client, method)(path)

    assert response.status_code == 405
    assert response["Allow"] == allowed
    assert response.json() == {
        "error": {
            "code": "method_not_allowed",
            "message": f'Method "{method.upper()}" not allowed.',
        }
    }


def test_a_wrong_method_with_staff_credentials_is_405_too(staff_client, services):
    assert staff_client.delete("/api/products/1/").status_code == 405


def test_malformed_json_is_a_validation_error(api_client, services):
    response = api_client.post("/api/orders/", data='{"cart_id": ', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["message"].startswith("The body is not valid JSON")
    assert services.orders.calls == []


def test_a_body_that_is_not_json_is_a_validation_error(api_client, services):
    response = api_client.post(
        "/api/orders/", data="cart_id=1", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_json_that_is_not_an_object_is_a_validation_error(api_client, services):
    response = api_client.post("/api/orders/", [1, 2], format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["non_field_errors"]


def test_an_unknown_host_is_a_json_400(api_client, services):
    response = api_client.get("/api/health/", HTTP_HOST="shop.evil.example")

    assert response.status_code == 400
    assert response.json() == {"error": {"code": "validation_error", "message": "Bad request."}}


def test_a_bug_in_the_gateway_is_a_500_without_a_stack_trace(api_client, monkeypatch, caplog):
    from gateway.adapters import catalog

    def broken(**kwargs):
        raise RuntimeError("bug: secret internals in this message")

    monkeypatch.setattr(catalog, "product_get", broken)

    response = api_client.get("/api/products/1/")

    assert response.status_code == 500
    assert response.json() == INTERNAL
    assert b"Traceback" not in response.content
    assert "event=unhandled_error" in caplog.text
    assert "secret internals" in caplog.text


# --- request ids -----------------------------------------------------------------------------
def test_the_request_id_travels_to_the_service(api_client, services):
    services.catalog.answer("GetProduct", a_product())

    response = api_client.get("/api/products/1/", HTTP_X_REQUEST_ID="abc-123.retry_2")

    assert response["X-Request-ID"] == "abc-123.retry_2"
    assert services.catalog.calls[0].metadata["x-request-id"] == "abc-123.retry_2"


def test_a_request_without_an_id_gets_one_and_a_bad_one_is_replaced(api_client, services):
    services.catalog.answer("GetProduct", a_product())

    made_up = api_client.get("/api/products/1/")
    replaced = api_client.get("/api/products/1/", HTTP_X_REQUEST_ID="<script>")

    assert len(made_up["X-Request-ID"]) == 32
    assert replaced["X-Request-ID"] not in ("", "<script>")
    sent = [call.metadata["x-request-id"] for call in services.catalog.calls]
    assert sent == [made_up["X-Request-ID"], replaced["X-Request-ID"]]


# Bodies a hostile client sends: each gets a 4xx in the envelope, never a 500. The paths are
# every kind of endpoint that reads a body: the login, a cart's, the checkout.
CART = "00000000-0000-4000-8000-000000000001"
BODY_PATHS = ["/api/auth/token/", f"/api/carts/{CART}/items/", "/api/orders/"]


@pytest.mark.parametrize("path", BODY_PATHS)
def test_a_body_over_the_limit_is_413(api_client, services, settings, path):
    too_big = b'{"padding": "' + b"x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b'"}'

    response = api_client.post(path, data=too_big, content_type="application/json")

    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "code": "body_too_large",
            "message": f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
        }
    }


@pytest.mark.parametrize("path", BODY_PATHS)
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_a_body_nested_too_deep_is_a_validation_error(api_client, services, path, opening):
    closing = "]" if opening == "[" else "}"
    nested = opening * 100_000 + "1" + closing * 100_000

    response = api_client.post(path, data=nested, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "validation_error",
        "message": "The body is not valid JSON: it is nested deeper than 32 levels.",
    }


def test_a_body_nested_just_too_deep_for_the_api_is_a_validation_error(api_client, services):
    # Deep enough to be refused, shallow enough for Python's decoder to read: the limit is
    # the API's own, not the decoder's.
    body = {"cart_id": CART, "email": "a@example.com", "payment_token": "tok_visa"}
    body["extra"] = json.loads("[" * 32 + "]" * 32)

    response = api_client.post("/api/orders/", body, format="json")

    assert response.status_code == 400
    assert "nested deeper than 32 levels" in response.json()["error"]["message"]


def test_a_body_nested_to_the_limit_is_read(api_client, services):
    response = api_client.post(
        f"/api/carts/{CART}/items/",
        {"product_id": json.loads("[" * 31 + "]" * 31), "quantity": 1},
        format="json",
    )

    assert response.json()["error"]["fields"] == {"product_id": ["A valid integer is required."]}


def test_the_body_limit_is_one_mebibyte(settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 1024 * 1024  # API.md states it
