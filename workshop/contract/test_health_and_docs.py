"""Contract of the health checks, the OpenAPI schema and the offline Swagger UI."""

import json
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
from support import expect

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

# Every path of API.md, with path parameters written `{}`: stages may name them differently.
DOCUMENTED_PATHS = {
    "/api/",
    "/api/health/",
    "/api/health/ready/",
    "/api/products/",
    "/api/products/{}/",
    "/api/inventory/{}/",
    "/api/inventory/{}/restock/",
    "/api/carts/",
    "/api/carts/{}/",
    "/api/carts/{}/items/",
    "/api/carts/{}/items/{}/",
    "/api/orders/",
    "/api/orders/{}/",
    "/api/orders/{}/cancel/",
    "/api/auth/token/",
}


def test_health_reports_ok_and_the_stage_folder_name(client: httpx.Client) -> None:
    health = expect(client.get("/api/health/"), 200)

    assert health["status"] == "ok"
    assert isinstance(health["stage"], str)
    assert re.fullmatch(r"\d{2}-[a-z0-9-]+", health["stage"]), health["stage"]


def test_the_api_root_links_the_resources_the_docs_and_the_schema(client: httpx.Client) -> None:
    root = expect(client.get("/api/"), 200)

    assert set(root) == {"stage", "resources", "docs", "schema"}, root
    assert root["stage"] == expect(client.get("/api/health/"), 200)["stage"]
    assert root["resources"] == {
        "products": "/api/products/",
        "product": "/api/products/{id}/",
        "stock": "/api/inventory/{product_id}/",
        "carts": "/api/carts/",
        "cart": "/api/carts/{id}/",
        "orders": "/api/orders/",
        "order": "/api/orders/{id}/",
        "token": "/api/auth/token/",
        "health": "/api/health/",
    }
    assert (root["docs"], root["schema"]) == ("/api/docs/", "/api/schema/")
    schema = json.loads(client.get(root["schema"], params={"format": "json"}).text)
    paths = {re.sub(r"\{[^}]+\}", "{}", path) for path in schema["paths"]}
    for link in root["resources"].values():
        assert re.sub(r"\{[^}]+\}", "{}", link) in paths, f"{link} is not in the schema"
    for link in (root["resources"]["products"], root["resources"]["health"], root["docs"]):
        assert client.get(link).status_code == 200, f"GET {link} does not answer 200"


def test_readiness_reports_every_dependency_ok(client: httpx.Client) -> None:
    readiness = expect(client.get("/api/health/ready/"), 200)

    assert readiness["status"] == "ok"
    assert isinstance(readiness["checks"], dict)
    assert readiness["checks"].get("database") == "ok"
    assert all(state == "ok" for state in readiness["checks"].values()), readiness


def test_schema_is_openapi_3_json_listing_every_documented_path(client: httpx.Client) -> None:
    response = client.get("/api/schema/", params={"format": "json"})

    assert response.status_code == 200
    schema = json.loads(response.text)  # the media type may be application/vnd.oai.openapi+json
    assert str(schema["openapi"]).startswith("3.")
    paths = {re.sub(r"\{[^}]+\}", "{}", path) for path in schema["paths"]}
    assert paths >= DOCUMENTED_PATHS, f"missing from the schema: {DOCUMENTED_PATHS - paths}"


def test_schema_is_served_without_a_format_parameter(client: httpx.Client) -> None:
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert "openapi" in response.text


class _ResourceFinder(HTMLParser):
    """Collects the URLs a browser would load on its own: scripts, styles, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in {"script", "img"} and attributes.get("src"):
            self.urls.append(attributes["src"])
        elif tag == "link" and attributes.get("href"):
            self.urls.append(attributes["href"])


def _docs_resources(client: httpx.Client) -> tuple[str, list[str]]:
    response = client.get("/api/docs/", headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    finder = _ResourceFinder()
    finder.feed(response.text)
    assert finder.urls, "the docs page loads no script: is it Swagger UI?"
    return str(response.url), finder.urls


def test_docs_page_loads_nothing_from_an_outside_host(client: httpx.Client, base_url: str) -> None:
    _, urls = _docs_resources(client)

    allowed_hosts = LOCAL_HOSTS | {urlsplit(base_url).hostname}
    outside = [url for url in urls if urlsplit(url).hostname not in allowed_hosts | {None}]
    assert not outside, f"the docs page needs the network (a classroom may be offline): {outside}"


def test_docs_page_assets_are_served_by_the_shop(client: httpx.Client) -> None:
    page_url, urls = _docs_resources(client)

    for url in urls:
        status = client.get(urljoin(page_url, url)).status_code
        assert status == 200, f"{url}, loaded by the docs page, answered {status}"
