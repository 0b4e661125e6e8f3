"""Contract of the limits on request bodies (API.md, "Limits"): a body too large is a 413, one
nested too deep a 400, both in the error envelope; never a 500, at any stage."""

import json

import httpx
import pytest
from support import Shop, assert_error

TEN_MEGABYTES = 10 * 1024 * 1024
LARGEST_BODY = 1024 * 1024  # API.md


def body_paths(shop: Shop) -> list[str]:
    """Endpoints that read a body: the login, a cart's items, the checkout."""
    return ["/api/auth/token/", f"/api/carts/{shop.create_cart()['id']}/items/", "/api/orders/"]


@pytest.mark.parametrize("endpoint", [0, 1, 2], ids=["login", "cart-items", "checkout"])
def test_a_ten_megabyte_body_is_413(client: httpx.Client, shop: Shop, endpoint: int) -> None:
    body = b'{"padding": "' + b"x" * TEN_MEGABYTES + b'"}'

    response = client.post(
        body_paths(shop)[endpoint], content=body, headers={"Content-Type": "application/json"}
    )

    error = assert_error(response, 413, "body_too_large")
    assert str(LARGEST_BODY) in error["message"]


def test_a_body_just_under_the_limit_is_read(client: httpx.Client, shop: Shop) -> None:
    padding = "x" * (LARGEST_BODY - 100)
    body = json.dumps({"product_id": 1, "quantity": 1, "padding": padding})

    response = client.post(
        body_paths(shop)[1], content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 201, response.text[:300]


@pytest.mark.parametrize("endpoint", [0, 1, 2], ids=["login", "cart-items", "checkout"])
def test_an_array_nested_100000_deep_is_a_validation_error(
    client: httpx.Client, shop: Shop, endpoint: int
) -> None:
    body = "[" * 100_000 + "]" * 100_000

    response = client.post(
        body_paths(shop)[endpoint], content=body, headers={"Content-Type": "application/json"}
    )

    error = assert_error(response, 400, "validation_error")
    assert "nested deeper than 32 levels" in error["message"]
