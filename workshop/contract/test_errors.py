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
