"""The error envelope of API.md for what goes wrong outside any one use case: unknown URLs,
wrong methods, bodies that are not JSON, a bug, a database that went away."""

import pytest
from catalog import api as catalog_api
from django.db import OperationalError


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

    monkeypatch.setattr(catalog_api, "product_get", broken)

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

    monkeypatch.setattr(catalog_api, "product_get", connection_lost)

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
