"""Contract of carts: creating them, adding, changing and removing items, and closed carts."""

from typing import Any

import httpx
import pytest
from support import UNKNOWN_ID, Shop, assert_cart, assert_error, expect, quantities


def test_new_cart_is_open_and_empty(client: httpx.Client) -> None:
    cart = expect(client.post("/api/carts/"), 201)

    assert_cart(cart)
    assert (cart["status"], cart["items"], cart["total"]) == ("open", [], "0.00")
    assert expect(client.get(f"/api/carts/{cart['id']}/"), 200) == cart


def test_adding_an_item_returns_the_cart_with_its_line(client: httpx.Client, shop: Shop) -> None:
    product = shop.create_product(price="12.50")
    cart = shop.create_cart()

    response = client.post(
        f"/api/carts/{cart['id']}/items/", json={"product_id": product["id"], "quantity": 2}
    )

    updated = expect(response, 201)
    assert_cart(updated)
    assert updated["items"] == [
        {
            "product_id": product["id"],
            "sku": product["sku"],
            "name": product["name"],
            "unit_price": "12.50",
            "quantity": 2,
            "line_total": "25.00",
        }
    ]
    assert updated["total"] == "25.00"
    assert shop.cart(cart["id"]) == updated


def test_adding_does_not_check_stock(shop: Shop) -> None:
    product = shop.create_product()  # nothing available

    cart = shop.create_cart({product["id"]: 5})

    assert quantities(cart) == {product["id"]: 5}


def test_adding_a_product_again_adds_to_its_quantity(shop: Shop) -> None:
    product = shop.create_product()
    cart = shop.create_cart({product["id"]: 2})

    cart = shop.add_item(cart["id"], product["id"], 3)

    assert quantities(cart) == {product["id"]: 5}
    assert len(cart["items"]) == 1


def test_cart_total_sums_every_line(shop: Shop) -> None:
    pen = shop.create_product(price="1.99")
    lamp = shop.create_product(price="24.50")

    cart = shop.create_cart({pen["id"]: 3, lamp["id"]: 2})

    assert_cart(cart)
    assert cart["total"] == "54.97"


@pytest.mark.parametrize("quantity", [1, 99])
def test_line_quantity_from_1_to_99_is_accepted(shop: Shop, quantity: int) -> None:
    product = shop.create_product()

    cart = shop.create_cart({product["id"]: quantity})

    assert quantities(cart) == {product["id"]: quantity}


@pytest.mark.parametrize("quantity", [0, -1, 100, "two"])
def test_adding_a_quantity_outside_1_to_99_is_a_validation_error(
    client: httpx.Client, shop: Shop, quantity: object
) -> None:
    product = shop.create_product()
    cart = shop.create_cart()

    response = client.post(
        f"/api/carts/{cart['id']}/items/", json={"product_id": product["id"], "quantity": quantity}
    )

    assert_error(response, 400, "validation_error", field="quantity")
    assert shop.cart(cart["id"])["items"] == []


def test_adding_beyond_99_on_one_line_is_a_validation_error(
    client: httpx.Client, shop: Shop
) -> None:
    product = shop.create_product()
    cart = shop.create_cart({product["id"]: 60})

    response = client.post(
        f"/api/carts/{cart['id']}/items/", json={"product_id": product["id"], "quantity": 40}
    )

    assert_error(response, 400, "validation_error", field="quantity")
    assert quantities(shop.cart(cart["id"])) == {product["id"]: 60}


@pytest.mark.parametrize("product_id", [999999999, "abc"])
def test_adding_an_unknown_product_is_a_validation_error_on_product_id(
    client: httpx.Client, shop: Shop, product_id: object
) -> None:
    cart = shop.create_cart()

    response = client.post(
        f"/api/carts/{cart['id']}/items/", json={"product_id": product_id, "quantity": 1}
    )

    assert_error(response, 400, "validation_error", field="product_id")


def test_put_sets_the_quantity_of_a_line(client: httpx.Client, shop: Shop) -> None:
    product = shop.create_product(price="2.00")
    cart = shop.create_cart({product["id"]: 5})

    response = client.put(f"/api/carts/{cart['id']}/items/{product['id']}/", json={"quantity": 3})

    updated = expect(response, 200)
    assert_cart(updated)
    assert quantities(updated) == {product["id"]: 3}
    assert updated["total"] == "6.00"


@pytest.mark.parametrize("quantity", [0, 100])
def test_put_outside_1_to_99_is_a_validation_error(
    client: httpx.Client, shop: Shop, quantity: int
) -> None:
    product = shop.create_product()
    cart = shop.create_cart({product["id"]: 5})

    response = client.put(
        f"/api/carts/{cart['id']}/items/{product['id']}/", json={"quantity": quantity}
    )

    assert_error(response, 400, "validation_error", field="quantity")
    assert quantities(shop.cart(cart["id"])) == {product["id"]: 5}


def test_put_of_a_product_not_in_the_cart_is_not_found(client: httpx.Client, shop: Shop) -> None:
    in_cart = shop.create_product()
    not_in_cart = shop.create_product()
    cart = shop.create_cart({in_cart["id"]: 1})

    response = client.put(
        f"/api/carts/{cart['id']}/items/{not_in_cart['id']}/", json={"quantity": 2}
    )

    assert_error(response, 404, "not_found")


def test_delete_removes_the_line(client: httpx.Client, shop: Shop) -> None:
    kept = shop.create_product(price="3.00")
    removed = shop.create_product()
    cart = shop.create_cart({kept["id"]: 1, removed["id"]: 2})

    response = client.delete(f"/api/carts/{cart['id']}/items/{removed['id']}/")

    updated = expect(response, 200)
    assert_cart(updated)
    assert quantities(updated) == {kept["id"]: 1}
    assert updated["total"] == "3.00"


def _change_requests(cart_id: str, product_id: int) -> dict[str, tuple[str, str, Any]]:
    """Every way to change a cart: (method, path, JSON body)."""
    return {
        "add": ("POST", f"/api/carts/{cart_id}/items/", {"product_id": product_id, "quantity": 1}),
        "put": ("PUT", f"/api/carts/{cart_id}/items/{product_id}/", {"quantity": 2}),
        "delete": ("DELETE", f"/api/carts/{cart_id}/items/{product_id}/", None),
    }


@pytest.mark.parametrize("change", ["get", "add", "put", "delete"])
def test_unknown_cart_is_not_found(client: httpx.Client, change: str) -> None:
    requests = _change_requests(UNKNOWN_ID, 1) | {"get": ("GET", f"/api/carts/{UNKNOWN_ID}/", None)}
    method, path, body = requests[change]

    assert_error(client.request(method, path, json=body), 404, "not_found")


def test_cart_id_that_is_not_a_uuid_is_not_found(client: httpx.Client) -> None:
    assert_error(client.get("/api/carts/not-a-uuid/"), 404, "not_found")


@pytest.mark.parametrize("change", ["add", "put", "delete"])
def test_every_change_to_a_checked_out_cart_is_cart_closed(
    client: httpx.Client, shop: Shop, change: str
) -> None:
    product = shop.create_product(stock=5)
    cart = shop.create_cart({product["id"]: 1})
    expect(shop.checkout(cart["id"]), 201)
    method, path, body = _change_requests(cart["id"], product["id"])[change]

    assert_error(client.request(method, path, json=body), 409, "cart_closed")
    after = shop.cart(cart["id"])
    assert after["status"] == "checked_out"
    assert quantities(after) == {product["id"]: 1}
