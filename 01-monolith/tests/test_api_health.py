"""Health, readiness and the API's own documentation."""

import re

from django.db import OperationalError
from shop.api.views import ReadinessApi


def test_health_names_the_stage(api_client):
    response = api_client.get("/api/health/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "stage": "01-monolith"}


def test_the_api_root_links_the_resources_the_docs_and_the_schema(api_client, db):
    response = api_client.get("/api/")

    assert response.status_code == 200
    assert response.json() == {
        "stage": "01-monolith",
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
    for link in ["/api/products/", "/api/health/", "/api/docs/", "/api/schema/"]:
        assert api_client.get(link).status_code == 200, link


def test_ready_when_the_database_and_the_broker_answer(api_client, db):
    response = api_client.get("/api/health/ready/")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def broker_down() -> None:
    raise ConnectionRefusedError("[Errno 111] Connection refused")


def database_down() -> None:
    raise OperationalError("could not connect to server")


def test_not_ready_when_the_broker_does_not_answer(api_client, db, monkeypatch):
    # The view keeps its checks in a dict: replace the entry, not the module's function.
    monkeypatch.setitem(ReadinessApi.checks, "broker", broker_down)

    response = api_client.get("/api/health/ready/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {"status": "error", "checks": {"database": "ok", "broker": "error"}}


def test_not_ready_when_the_database_does_not_answer(api_client, monkeypatch):
    monkeypatch.setitem(ReadinessApi.checks, "database", database_down)

    response = api_client.get("/api/health/ready/")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "error", "broker": "ok"}


def test_the_openapi_schema_is_served_as_json(api_client):
    response = api_client.get("/api/schema/?format=json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Shop API"
    assert {"/api/products/", "/api/carts/{cart_id}/items/", "/api/orders/"} <= set(schema["paths"])


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
