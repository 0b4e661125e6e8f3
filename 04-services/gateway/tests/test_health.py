"""Health, readiness (the database and every service's gRPC health) and the API's docs."""

import re

import pytest
from django.db import OperationalError

from gateway.views import ReadinessApi

SERVICES = ("catalog", "inventory", "orders", "payments")


def test_health_names_the_stage(api_client):
    response = api_client.get("/api/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "stage": "04-services"}


def test_the_api_root_links_the_resources_the_docs_and_the_schema(api_client, db):
    response = api_client.get("/api/")

    assert response.status_code == 200
    assert response.json() == {
        "stage": "04-services",
        "resources": {
            "products": "/api/products/",
            "product": "/api/products/{id}/",
            "stock": "/api/inventory/{product_id}/",
            "carts": "/api/carts/",
            "cart": "/api/carts/{id}/",
            "orders": "/api/orders/",
            "order": "/api/orders/{id}/",
            "token": "/api/auth/token/",
            "health": "/api/health/",
        },
        "docs": "/api/docs/",
        "schema": "/api/schema/",
    }
    # The links a plain GET may follow lead somewhere (not a 404).
    for link in ["/api/health/ready/", "/api/health/", "/api/docs/", "/api/schema/"]:
        assert api_client.get(link).status_code == 200, link


def test_ready_when_the_database_and_every_service_answer(api_client, db):
    response = api_client.get("/api/health/ready/")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {
            "database": "ok",
            "catalog": "ok",
            "inventory": "ok",
            "orders": "ok",
            "payments": "ok",
        },
    }


@pytest.mark.parametrize("down", SERVICES)
def test_not_ready_when_one_service_is_down(api_client, db, settings, nowhere, down):
    settings.SHOP_GRPC_TARGETS = {**settings.SHOP_GRPC_TARGETS, down: nowhere}

    response = api_client.get("/api/health/ready/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "status": "error",
        "checks": {
            "database": "ok",
            **{name: "error" if name == down else "ok" for name in SERVICES},
        },
    }


def database_down() -> None:
    raise OperationalError("could not connect to server")


def test_not_ready_when_the_database_does_not_answer(api_client, monkeypatch):
    # The view keeps its checks in a dict: replace the entry, not the module's function.
    monkeypatch.setitem(ReadinessApi.checks, "database", database_down)

    response = api_client.get("/api/health/ready/")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "error", **dict.fromkeys(SERVICES, "ok")}


def test_the_openapi_schema_is_served_as_json(api_client):
    response = api_client.get("/api/schema/?format=json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Shop API"
    assert {"/api/products/", "/api/carts/{cart_id}/items/", "/api/orders/"} <= set(schema["paths"])


def test_every_request_body_has_its_own_schema(api_client):
    # COMPONENT_SPLIT_REQUEST: what a client sends is a component of its own, named ...Request.
    schema = api_client.get("/api/schema/?format=json").json()

    add_item = schema["paths"]["/api/carts/{cart_id}/items/"]["post"]["requestBody"]
    checkout = schema["paths"]["/api/orders/"]["post"]["requestBody"]
    add_item_ref = add_item["content"]["application/json"]["schema"]["$ref"]
    checkout_ref = checkout["content"]["application/json"]["schema"]["$ref"]
    assert add_item_ref.endswith("/CartItemAddInputRequest")
    assert checkout_ref.endswith("/OrderCreateInputRequest")


def test_swagger_ui_is_served_without_any_outside_network(api_client, db):
    response = api_client.get("/api/docs/")

    assert response.status_code == 200
    # Every script, stylesheet and icon comes from this server (drf-spectacular-sidecar,
    # served by WhiteNoise), none from a CDN: a classroom may be offline.
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.content.decode())
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/static/"), asset
        asset_response = api_client.get(asset)
        assert asset_response.status_code == 200, asset
        # Closing a file response ends the request, as a server would (Django's
        # request_finished signal tidies database connections: hence the `db` fixture).
        asset_response.close()
