"""Contract of the inventory: reading what is available and restocking it."""

import httpx
import pytest
from support import Shop, assert_error, expect


def test_inventory_of_a_seeded_product_is_a_whole_number(client: httpx.Client) -> None:
    inventory = expect(client.get("/api/inventory/1/"), 200)

    assert set(inventory) == {"product_id", "available"}
    assert inventory["product_id"] == 1
    assert isinstance(inventory["available"], int) and inventory["available"] >= 0


def test_restock_adds_to_what_is_available(
    client: httpx.Client, staff_client: httpx.Client, shop: Shop
) -> None:
    product = shop.create_product(stock=10)

    response = staff_client.post(f"/api/inventory/{product['id']}/restock/", json={"quantity": 5})

    assert expect(response, 200) == {"product_id": product["id"], "available": 15}
    assert shop.available(product["id"]) == 15


@pytest.mark.parametrize("quantity", [1, 100000])
def test_restock_accepts_quantities_from_1_to_100000(
    staff_client: httpx.Client, shop: Shop, quantity: int
) -> None:
    product = shop.create_product()

    response = staff_client.post(
        f"/api/inventory/{product['id']}/restock/", json={"quantity": quantity}
    )

    assert expect(response, 200)["available"] == quantity


@pytest.mark.parametrize("quantity", [0, -1, 100001, "many"])
def test_restock_outside_1_to_100000_is_a_validation_error(
    staff_client: httpx.Client, shop: Shop, quantity: object
) -> None:
    product = shop.create_product(stock=7)

    response = staff_client.post(
        f"/api/inventory/{product['id']}/restock/", json={"quantity": quantity}
    )

    assert_error(response, 400, "validation_error", field="quantity")
    assert shop.available(product["id"]) == 7


def test_restock_without_credentials_is_not_authenticated(client: httpx.Client, shop: Shop) -> None:
    product = shop.create_product()

    response = client.post(f"/api/inventory/{product['id']}/restock/", json={"quantity": 5})

    assert_error(response, 401, "not_authenticated")
    assert shop.available(product["id"]) == 0


def test_inventory_of_an_unknown_product_is_not_found(client: httpx.Client) -> None:
    assert_error(client.get("/api/inventory/999999999/"), 404, "not_found")


def test_restock_of_an_unknown_product_is_not_found(staff_client: httpx.Client) -> None:
    response = staff_client.post("/api/inventory/999999999/restock/", json={"quantity": 5})

    assert_error(response, 404, "not_found")
