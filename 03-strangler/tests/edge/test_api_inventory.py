"""The inventory API: how many units can be sold, and restocking (staff only)."""

import pytest


def test_stock_of_a_product(api_client, make_product):
    kettle = make_product(stock=42)

    response = api_client.get(f"/api/inventory/{kettle.id}/")

    assert response.status_code == 200
    assert response.json() == {"product_id": kettle.id, "available": 42}


def test_stock_of_an_unknown_product_is_not_found(api_client, db):
    response = api_client.get("/api/inventory/999999/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_staff_restock_a_product(staff_client, make_product):
    kettle = make_product(stock=42)

    response = staff_client.post(f"/api/inventory/{kettle.id}/restock/", {"quantity": 10})

    assert response.status_code == 200
    assert response.json() == {"product_id": kettle.id, "available": 52}
    assert staff_client.get(f"/api/inventory/{kettle.id}/").json()["available"] == 52


@pytest.mark.parametrize("quantity", [1, 100_000])
def test_restock_accepts_1_to_100000(staff_client, make_product, quantity):
    kettle = make_product(stock=0)

    response = staff_client.post(f"/api/inventory/{kettle.id}/restock/", {"quantity": quantity})

    assert response.status_code == 200
    assert response.json()["available"] == quantity


@pytest.mark.parametrize("quantity", [0, -1, 100_001, "many", None])
def test_restock_outside_1_to_100000_is_a_validation_error(staff_client, make_product, quantity):
    kettle = make_product(stock=5)

    response = staff_client.post(f"/api/inventory/{kettle.id}/restock/", {"quantity": quantity})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert list(response.json()["error"]["fields"]) == ["quantity"]
    assert staff_client.get(f"/api/inventory/{kettle.id}/").json()["available"] == 5


def test_restocking_an_unknown_product_is_not_found(staff_client, db):
    response = staff_client.post("/api/inventory/999999/restock/", {"quantity": 1})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_restocking_is_for_staff_only(api_client, customer_client, make_product):
    kettle = make_product(stock=5)
    url = f"/api/inventory/{kettle.id}/restock/"

    assert api_client.post(url, {"quantity": 1}).status_code == 401
    assert customer_client.post(url, {"quantity": 1}).status_code == 403
    assert api_client.get(f"/api/inventory/{kettle.id}/").json()["available"] == 5
