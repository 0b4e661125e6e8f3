"""The error envelope of API.md for what goes wrong outside any one use case: unknown URLs,
wrong methods, bodies that are not JSON, a bug, a database that went away."""

import json

import pytest
from django.db import OperationalError
from shop import selectors


@pytest.mark.parametrize("path", ["/api/nothing-here/", "/api/products", "/", "/admin/"])
def test_an_unknown_url_is_a_json_404(api_client, db, path):
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
    ],
)
def test_a_wrong_method_is_405(api_client, db, method, path, allowed):
    response = getattr(api_client, method)(path)

    assert response.status_code == 405
    assert response["Allow"] == allowed
    assert response.json() == {
        "error": {
            "code": "method_not_allowed",
            "message": f'Method "{method.upper()}" not allowed.',
        }
    }


def test_malformed_json_is_a_validation_error(api_client, make_cart):
    response = api_client.post(
        f"/api/carts/{make_cart().id}/items/",
        data='{"product_id": 1, "quantity": ',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["error"]["message"].startswith("The body is not valid JSON")


def test_a_body_that_is_not_json_is_a_validation_error(api_client, make_cart):
    response = api_client.post(
        f"/api/carts/{make_cart().id}/items/",
        data="product_id=1&quantity=2",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_json_that_is_not_an_object_is_a_validation_error(api_client, make_cart):
    response = api_client.post(f"/api/carts/{make_cart().id}/items/", [1, 2], format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["non_field_errors"]


def test_an_unknown_host_is_a_json_400(api_client, db):
    response = api_client.get("/api/health/", HTTP_HOST="shop.evil.example")

    assert response.status_code == 400
    assert response.json() == {"error": {"code": "validation_error", "message": "Bad request."}}


def test_a_bug_is_a_500_without_a_stack_trace(api_client, make_product, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("bug: secret internals in this message")

    monkeypatch.setattr(selectors, "product_row_get", broken)

    response = api_client.get(f"/api/products/{make_product().id}/")

    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "Something went wrong on our side."}
    }
    assert b"Traceback" not in response.content
    assert b"secret internals" not in response.content
    # The details go to the log, with the stack trace, for the people who can fix it.
    assert "event=unhandled_error" in caplog.text
    assert "secret internals" in caplog.text


def test_a_database_that_went_away_is_503_with_retry_after(api_client, make_product, monkeypatch):
    def connection_lost(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(selectors, "product_row_get", connection_lost)

    response = api_client.get(f"/api/products/{make_product().id}/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "error": {
            "code": "service_unavailable",
            "message": "A dependency is unavailable; try again shortly.",
        }
    }


def test_every_response_carries_a_request_id(api_client, db):
    response = api_client.get("/api/nothing-here/")

    assert len(response["X-Request-ID"]) == 32


def test_a_well_formed_request_id_is_passed_on_and_a_bad_one_replaced(api_client, db):
    kept = api_client.get("/api/health/", HTTP_X_REQUEST_ID="abc-123.retry_2")
    replaced = api_client.get("/api/health/", HTTP_X_REQUEST_ID="<script>")

    assert kept["X-Request-ID"] == "abc-123.retry_2"
    assert replaced["X-Request-ID"] not in ("", "<script>")


# Bodies a hostile client sends: each gets a 4xx in the envelope, never a 500. The paths are
# every kind of endpoint that reads a body: the login, a cart's, the checkout.
BODY_PATHS = ["/api/auth/token/", "/api/carts/{cart}/items/", "/api/orders/"]


@pytest.mark.parametrize("path", BODY_PATHS)
def test_a_body_over_the_limit_is_413(api_client, make_cart, settings, path):
    too_big = b'{"padding": "' + b"x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b'"}'

    response = api_client.post(
        path.format(cart=make_cart().id), data=too_big, content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "code": "body_too_large",
            "message": f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
        }
    }


@pytest.mark.parametrize("path", BODY_PATHS)
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_a_body_nested_too_deep_is_a_validation_error(api_client, make_cart, path, opening):
    closing = "]" if opening == "[" else "}"
    nested = opening * 100_000 + "1" + closing * 100_000

    response = api_client.post(
        path.format(cart=make_cart().id), data=nested, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "validation_error",
        "message": "The body is not valid JSON: it is nested deeper than 32 levels.",
    }


def test_a_body_nested_just_too_deep_for_the_api_is_a_validation_error(api_client, make_cart):
    # Deep enough to be refused, shallow enough for Python's decoder to read: the limit is
    # the API's own, not the decoder's.
    body = {"cart_id": str(make_cart().id), "email": "a@example.com", "payment_token": "tok_visa"}
    body["extra"] = json.loads("[" * 32 + "]" * 32)

    response = api_client.post("/api/orders/", body, format="json")

    assert response.status_code == 400
    assert "nested deeper than 32 levels" in response.json()["error"]["message"]


def test_a_body_nested_to_the_limit_is_read(api_client, make_cart):
    response = api_client.post(
        f"/api/carts/{make_cart().id}/items/",
        {"product_id": json.loads("[" * 31 + "]" * 31), "quantity": 1},
        format="json",
    )

    assert response.json()["error"]["fields"] == {"product_id": ["A valid integer is required."]}


def test_the_body_limit_is_one_mebibyte(settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 1024 * 1024  # API.md states it
