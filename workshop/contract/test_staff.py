"""Contract of the staff side of the catalog: authentication, creating and changing products."""

from datetime import UTC, datetime

import httpx
import pytest
from support import Shop, assert_error, assert_product, assert_timestamp, expect, unique

TOKEN = "/api/auth/token/"

# A non-staff user getting 403 permission_denied is part of API.md, but no public endpoint
# creates an ordinary user, so a black-box suite cannot set it up; each stage tests it itself.


def test_creating_a_product_without_credentials_is_not_authenticated(
    client: httpx.Client, shop: Shop
) -> None:
    response = client.post("/api/products/", json=shop.product_payload())

    assert_error(response, 401, "not_authenticated")


def test_staff_creates_a_product_with_basic_auth(
    client: httpx.Client, staff_basic_client: httpx.Client, shop: Shop
) -> None:
    payload = shop.product_payload(price="12.50")

    product = expect(staff_basic_client.post("/api/products/", json=payload), 201)

    assert_product(product)
    assert {key: product[key] for key in payload} == payload
    assert product["currency"] == "EUR"
    assert expect(client.get(f"/api/products/{product['id']}/"), 200) == product


def test_staff_gets_a_token_and_creates_a_product_with_it(
    client: httpx.Client, staff_credentials: tuple[str, str], shop: Shop
) -> None:
    username, password = staff_credentials
    token = expect(
        client.post("/api/auth/token/", json={"username": username, "password": password}), 200
    )["token"]
    assert isinstance(token, str) and token

    response = client.post(
        "/api/products/",
        json=shop.product_payload(),
        headers={"Authorization": f"Token {token}"},
    )

    assert_product(expect(response, 201))


def test_token_with_wrong_credentials_is_a_validation_error(
    client: httpx.Client, staff_credentials: tuple[str, str]
) -> None:
    username, _ = staff_credentials
    response = client.post(
        "/api/auth/token/", json={"username": username, "password": unique("wrong-")}
    )

    assert_error(response, 400, "validation_error")


def test_token_without_credentials_is_a_validation_error(client: httpx.Client) -> None:
    assert_error(client.post("/api/auth/token/", json={}), 400, "validation_error")


def login(client: httpx.Client, credentials: tuple[str, str]) -> dict:
    username, password = credentials
    return expect(client.post(TOKEN, json={"username": username, "password": password}), 200)


def test_every_login_gets_a_new_token_that_expires(
    client: httpx.Client, staff_credentials: tuple[str, str]
) -> None:
    first, second = login(client, staff_credentials), login(client, staff_credentials)

    assert first["token"] != second["token"]
    for answer in (first, second):
        assert set(answer) == {"token", "expires_at"}
        assert_timestamp(answer["expires_at"])
        assert datetime.fromisoformat(answer["expires_at"]) > datetime.now(UTC)


def test_a_revoked_token_stops_working(
    client: httpx.Client, staff_credentials: tuple[str, str], shop: Shop
) -> None:
    # A token of its own: revoking the suite's staff token would break the tests after this.
    headers = {"Authorization": f"Token {login(client, staff_credentials)['token']}"}

    response = client.delete(TOKEN, headers=headers)

    assert response.status_code == 204, response.text[:300]
    rejected = client.post("/api/products/", json=shop.product_payload(), headers=headers)
    assert_error(rejected, 401, "not_authenticated")
    assert_error(client.delete(TOKEN, headers=headers), 401, "not_authenticated")


def test_revoking_without_a_token_is_not_authenticated(client: httpx.Client) -> None:
    assert_error(client.delete(TOKEN), 401, "not_authenticated")


def test_repeated_failed_logins_for_one_username_are_throttled(client: httpx.Client) -> None:
    # A username of its own, and only as many failures as the per-username limit (5 a minute):
    # the per-client limit (20 a minute) must stay far off, or the suite's own logins from this
    # client would be refused for the next minute.
    username = unique("contract-guessed-")
    for attempt in range(5):
        response = client.post(TOKEN, json={"username": username, "password": f"guess-{attempt}"})
        assert_error(response, 400, "validation_error")

    throttled = client.post(TOKEN, json={"username": username, "password": "guess-5"})

    assert_error(throttled, 429, "throttled")
    assert 0 < int(throttled.headers["Retry-After"]) <= 60


def test_new_product_starts_with_nothing_available(client: httpx.Client, shop: Shop) -> None:
    product = shop.create_product()

    inventory = expect(client.get(f"/api/inventory/{product['id']}/"), 200)

    assert inventory == {"product_id": product["id"], "available": 0}


def test_duplicate_sku_is_a_validation_error_on_sku(staff_client: httpx.Client, shop: Shop) -> None:
    existing = shop.create_product()

    response = staff_client.post("/api/products/", json=shop.product_payload(sku=existing["sku"]))

    assert_error(response, 400, "validation_error", field="sku")


def test_seeded_sku_cannot_be_taken_again(staff_client: httpx.Client, shop: Shop) -> None:
    response = staff_client.post("/api/products/", json=shop.product_payload(sku="BK-0001"))

    assert_error(response, 400, "validation_error", field="sku")


@pytest.mark.parametrize("price", ["0.00", "-1.00"])
def test_price_must_be_above_zero(staff_client: httpx.Client, shop: Shop, price: str) -> None:
    response = staff_client.post("/api/products/", json=shop.product_payload(price=price))

    assert_error(response, 400, "validation_error", field="price")


@pytest.mark.parametrize("category", ["not a slug", "books!", "Books"])
def test_category_must_be_a_slug(staff_client: httpx.Client, shop: Shop, category: str) -> None:
    response = staff_client.post("/api/products/", json=shop.product_payload(category=category))

    assert_error(response, 400, "validation_error", field="category")


def test_creating_a_product_needs_its_fields(staff_client: httpx.Client) -> None:
    error = assert_error(staff_client.post("/api/products/", json={}), 400, "validation_error")

    assert {"sku", "name", "price", "category"} <= set(error["fields"]), error


def test_staff_patch_changes_only_the_given_fields(
    client: httpx.Client, staff_client: httpx.Client, shop: Shop
) -> None:
    product = shop.create_product(price="10.00")
    category = unique("contract-moved-")

    response = staff_client.patch(
        f"/api/products/{product['id']}/", json={"price": "11.20", "category": category}
    )

    patched = expect(response, 200)
    assert patched == product | {"price": "11.20", "category": category}
    assert expect(client.get(f"/api/products/{product['id']}/"), 200) == patched


def test_staff_patch_renames_and_redescribes(staff_client: httpx.Client, shop: Shop) -> None:
    product = shop.create_product()
    changes = {"name": unique("Renamed Kettle "), "description": "Now with a lid."}

    patched = expect(staff_client.patch(f"/api/products/{product['id']}/", json=changes), 200)

    assert patched == product | changes


def test_patch_without_credentials_is_not_authenticated(client: httpx.Client, shop: Shop) -> None:
    product = shop.create_product()

    response = client.patch(f"/api/products/{product['id']}/", json={"price": "1.00"})

    assert_error(response, 401, "not_authenticated")


def test_patch_with_a_price_of_zero_is_a_validation_error(
    staff_client: httpx.Client, shop: Shop
) -> None:
    product = shop.create_product()

    response = staff_client.patch(f"/api/products/{product['id']}/", json={"price": "0.00"})

    assert_error(response, 400, "validation_error", field="price")


def test_patch_of_an_unknown_product_is_not_found(staff_client: httpx.Client) -> None:
    response = staff_client.patch("/api/products/999999999/", json={"price": "1.00"})

    assert_error(response, 404, "not_found")
