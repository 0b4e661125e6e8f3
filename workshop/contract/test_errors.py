"""Contract of the error envelope for requests the API does not route or cannot read."""

import httpx
import pytest
from support import Shop, assert_error


@pytest.mark.parametrize("path", ["/api/no-such-thing/", "/api/products/1/no-such-thing/"])
def test_unknown_url_is_a_not_found_envelope(client: httpx.Client, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")


# No endpoint answers these methods at these paths, so credentials would not make them work:
# 405, not 401 (which API.md keeps for a staff endpoint called without credentials).
WRONG_METHODS = [
    ("GET", "/api/carts/"),
    ("GET", "/api/orders/"),
    ("POST", "/api/health/"),
    ("DELETE", "/api/products/"),
    ("DELETE", "/api/products/1/"),
]


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS)
def test_wrong_method_is_a_method_not_allowed_envelope(
    client: httpx.Client, method: str, path: str
) -> None:
    assert_error(client.request(method, path), 405, "method_not_allowed")


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS)
def test_wrong_method_with_staff_credentials_is_method_not_allowed(
    staff_client: httpx.Client, method: str, path: str
) -> None:
    assert_error(staff_client.request(method, path), 405, "method_not_allowed")


def test_malformed_json_is_a_validation_error_envelope(client: httpx.Client, shop: Shop) -> None:
    cart = shop.create_cart()

    response = client.post(
        f"/api/carts/{cart['id']}/items/",
        content=b'{"product_id": 1, "quantity": ',
        headers={"Content-Type": "application/json"},
    )

    assert_error(response, 400, "validation_error")
    assert shop.cart(cart["id"])["items"] == []


def test_malformed_json_at_checkout_is_a_validation_error_envelope(client: httpx.Client) -> None:
    response = client.post(
        "/api/orders/", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert_error(response, 400, "validation_error")


# Larger than any 64-bit id: it names nothing. It must not reach a database driver, which
# would overflow (a 500) instead of finding nothing.
TOO_LARGE_ID = 2**64


@pytest.mark.parametrize(
    "path",
    [
        f"/api/products/{TOO_LARGE_ID}/",
        f"/api/inventory/{TOO_LARGE_ID}/",
        f"/api/inventory/{TOO_LARGE_ID}/restock/",
    ],
)
def test_an_id_too_large_for_any_database_is_not_found(
    staff_client: httpx.Client, path: str
) -> None:
    method = "POST" if path.endswith("restock/") else "GET"

    assert_error(staff_client.request(method, path, json={"quantity": 1}), 404, "not_found")


def test_a_product_id_too_large_for_any_database_is_a_validation_error(
    client: httpx.Client, shop: Shop
) -> None:
    cart = shop.create_cart()

    response = client.post(
        f"/api/carts/{cart['id']}/items/", json={"product_id": TOO_LARGE_ID, "quantity": 1}
    )

    assert_error(response, 400, "validation_error", field="product_id")
    assert shop.cart(cart["id"])["items"] == []
