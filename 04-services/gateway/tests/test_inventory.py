"""The inventory API through the gateway: the catalog says whether a product exists, the
inventory service how many units it has."""

import pytest
from chassis.errors import NotFound
from shop.inventory.v1 import inventory_pb2

from .messages import a_product


def levels(
    available: dict[int, int], *, stocked: bool = False
) -> inventory_pb2.GetAvailabilityResponse:
    """A GetAvailability answer: {product_id: units}, of products stocked or never stocked."""
    return inventory_pb2.GetAvailabilityResponse(
        levels=[
            inventory_pb2.StockLevel(product_id=product_id, available=units, stocked=stocked)
            for product_id, units in available.items()
        ]
    )


def test_what_is_available(api_client, services):
    services.catalog.answer("GetProduct", a_product(id=7))
    services.inventory.answer("GetAvailability", levels({7: 42}, stocked=True))

    response = api_client.get("/api/inventory/7/")

    assert response.status_code == 200
    assert response.json() == {"product_id": 7, "available": 42}
    assert list(services.inventory.requests("GetAvailability")[0].product_ids) == [7]


def test_a_stocked_product_costs_one_call_the_inventorys(api_client, services):
    services.inventory.answer("GetAvailability", levels({7: 42}, stocked=True))

    api_client.get("/api/inventory/7/")

    assert services.catalog.calls == []  # only a stocked product has a row: the catalog knows it


def test_a_product_never_stocked_has_0_if_the_catalog_knows_it(api_client, services):
    services.catalog.answer("GetProduct", a_product(id=7))
    services.inventory.answer("GetAvailability", levels({7: 0}, stocked=False))

    response = api_client.get("/api/inventory/7/")

    assert response.json() == {"product_id": 7, "available": 0}
    assert [request.id for request in services.catalog.requests("GetProduct")] == [7]


def test_a_product_the_catalog_does_not_have_is_not_found(api_client, services):
    services.inventory.answer("GetAvailability", levels({999999999: 0}, stocked=False))
    services.catalog.answer("GetProduct", NotFound())

    response = api_client.get("/api/inventory/999999999/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_staff_restock_with_the_request_id_as_idempotency_key(staff_client, services):
    services.catalog.answer("GetProduct", a_product(id=7))
    services.inventory.answer(
        "Restock", lambda request: inventory_pb2.StockLevel(product_id=7, available=52)
    )

    response = staff_client.post(
        "/api/inventory/7/restock/", {"quantity": 10}, HTTP_X_REQUEST_ID="restock-7-once"
    )

    assert response.status_code == 200
    assert response.json() == {"product_id": 7, "available": 52}
    [request] = services.inventory.requests("Restock")
    assert (request.product_id, request.quantity) == (7, 10)
    assert request.idempotency_key == "restock-7-once"


def test_restocking_a_product_the_catalog_does_not_have_is_not_found(staff_client, services):
    services.catalog.answer("GetProduct", NotFound())

    response = staff_client.post("/api/inventory/999999999/restock/", {"quantity": 5})

    assert response.status_code == 404
    assert services.inventory.calls == []


@pytest.mark.parametrize("quantity", [0, -1, 100001, "many", None])
def test_restock_outside_1_to_100000_is_refused_before_any_call(staff_client, services, quantity):
    response = staff_client.post("/api/inventory/7/restock/", {"quantity": quantity})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["quantity"]
    assert services.catalog.calls == services.inventory.calls == []


@pytest.mark.parametrize("path", [f"/api/inventory/{2**64}/", f"/api/inventory/{2**64}/restock/"])
def test_an_id_too_large_for_64_bits_is_not_found(staff_client, services, path):
    method = staff_client.post if path.endswith("restock/") else staff_client.get

    response = method(path, {"quantity": 1})

    assert response.status_code == 404
    assert services.catalog.calls == services.inventory.calls == []


def test_restock_without_credentials_is_not_authenticated(api_client, services):
    response = api_client.post("/api/inventory/7/restock/", {"quantity": 5})

    assert response.status_code == 401
    assert services.inventory.calls == []
