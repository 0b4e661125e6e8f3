"""Assertions and data factories shared by the contract tests: everything goes over public HTTP."""

import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

PRODUCT_KEYS = {"id", "sku", "name", "description", "category", "price", "currency"}
CART_KEYS = {"id", "status", "items", "total", "currency"}
ITEM_KEYS = {"product_id", "sku", "name", "unit_price", "quantity", "line_total"}
ORDER_KEYS = {"id", "status", "email", "items", "total", "currency", "created_at"}
PAGE_KEYS = {"count", "next", "previous", "results"}

# Products made by this suite live in their own category, so the seeded categories keep the
# exact contents that learners (and the load test) see.
CONTRACT_CATEGORY = "contract-tests"

# No cart or order has this id: servers make random UUIDs, and a fixed one keeps test ids stable.
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"

MONEY = re.compile(r"^\d+\.\d{2}$")  # never negative: prices are > 0, totals sum them
SNAKE_CASE = re.compile(r"^[a-z]+(_[a-z]+)*$")


def unique(prefix: str = "") -> str:
    """A short token no earlier run has used: the suite runs many times against one database."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def body_of(response: httpx.Response) -> Any:
    """The JSON body, with the response in the message when it is not JSON."""
    try:
        return response.json()
    except ValueError as error:
        raise AssertionError(
            f"{response.request.method} {response.request.url} answered {response.status_code} "
            f"with a body that is not JSON: {response.text[:300]!r}"
        ) from error


def expect(response: httpx.Response, status: int) -> Any:
    """Assert the status (showing the body when it is wrong) and return the JSON body."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: expected {status}, "
        f"got {response.status_code}: {response.text[:500]}"
    )
    body = body_of(response)
    assert_no_floats(body)
    return body


def assert_error(
    response: httpx.Response, status: int, code: str, *, field: str | None = None
) -> dict[str, Any]:
    """Check the one error envelope of API.md and return its `error` object.

    `field`, when given, must be among the `fields` of a validation_error.
    """
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: expected {status} {code}, "
        f"got {response.status_code}: {response.text[:500]}"
    )
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    assert media_type == "application/json", f"an error must be JSON, got {media_type!r}"
    body = body_of(response)
    assert isinstance(body, dict) and set(body) == {"error"}, f"not an error envelope: {body}"
    error = body["error"]
    assert isinstance(error, dict), f"`error` must be an object: {body}"
    assert set(error) <= {"code", "message", "fields", "details"}, f"unexpected keys: {error}"
    assert error.get("code") == code, f"expected code {code!r}, got {error.get('code')!r}"
    assert SNAKE_CASE.match(error["code"]), f"code must be snake_case: {error['code']!r}"
    assert isinstance(error.get("message"), str) and error["message"].strip(), (
        f"message must be a human sentence: {error}"
    )
    if code == "validation_error":
        fields = error.get("fields", {})
        assert isinstance(fields, dict), f"`fields` must be an object: {error}"
        for name, reasons in fields.items():
            assert isinstance(name, str) and name, f"bad field name in {error}"
            assert isinstance(reasons, list) and reasons, f"`fields.{name}` must list reasons"
            assert all(isinstance(reason, str) for reason in reasons), f"bad reasons: {reasons}"
    else:
        assert "fields" not in error, f"`fields` appears only with validation_error: {error}"
    if field is not None:
        assert field in error.get("fields", {}), f"expected an error on {field!r}: {error}"
    return error


def assert_no_floats(value: Any, path: str = "$") -> None:
    """Money never travels as a float; no other number in this API is fractional either."""
    assert not isinstance(value, float), f"float at {path}: {value!r}"
    if isinstance(value, dict):
        for key, item in value.items():
            assert_no_floats(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_no_floats(item, f"{path}[{index}]")


def assert_money(value: Any) -> Decimal:
    assert isinstance(value, str), f"money must be a string, got {type(value).__name__}: {value!r}"
    assert MONEY.match(value), f"money must have exactly two decimals: {value!r}"
    return Decimal(value)


def assert_uuid(value: Any) -> None:
    assert isinstance(value, str), f"an id must be a UUID string: {value!r}"
    uuid.UUID(value)


def assert_timestamp(value: Any) -> None:
    assert isinstance(value, str), f"a timestamp must be a string: {value!r}"
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, f"a timestamp must carry a timezone: {value!r}"


def assert_product(product: Any) -> None:
    assert isinstance(product, dict) and set(product) == PRODUCT_KEYS, f"product: {product}"
    assert isinstance(product["id"], int) and not isinstance(product["id"], bool)
    for key in ("sku", "name", "description", "category"):
        assert isinstance(product[key], str), f"{key} must be a string: {product}"
    assert assert_money(product["price"]) > 0
    assert product["currency"] == "EUR"


def assert_items_add_up(container: dict[str, Any]) -> None:
    """Items are shaped alike in carts and orders, and the total is the sum of line totals."""
    total = Decimal("0.00")
    for item in container["items"]:
        assert isinstance(item, dict) and set(item) == ITEM_KEYS, f"item: {item}"
        assert isinstance(item["product_id"], int)
        assert isinstance(item["sku"], str) and isinstance(item["name"], str)
        assert isinstance(item["quantity"], int) and 1 <= item["quantity"] <= 99
        unit_price = assert_money(item["unit_price"])
        line_total = assert_money(item["line_total"])
        assert line_total == unit_price * item["quantity"], f"line total is wrong: {item}"
        total += line_total
    assert assert_money(container["total"]) == total, f"total is not the sum: {container}"
    assert container["currency"] == "EUR"


def assert_cart(cart: Any) -> None:
    assert isinstance(cart, dict) and set(cart) == CART_KEYS, f"cart: {cart}"
    assert_uuid(cart["id"])
    assert cart["status"] in {"open", "checked_out"}
    assert isinstance(cart["items"], list)
    assert_items_add_up(cart)


def assert_order(order: Any) -> None:
    assert isinstance(order, dict) and set(order) == ORDER_KEYS, f"order: {order}"
    assert_uuid(order["id"])
    assert order["status"] in {"confirmed", "cancelled"}
    assert isinstance(order["email"], str) and "@" in order["email"]
    assert isinstance(order["items"], list) and order["items"], "an order has items"
    assert_items_add_up(order)
    assert_timestamp(order["created_at"])


def quantities(container: dict[str, Any]) -> dict[int, int]:
    return {item["product_id"]: item["quantity"] for item in container["items"]}


class Shop:
    """Builds the data a test needs through the public API, so every test owns its data.

    Exact stock comes from new products: one starts with 0 available, so a restock of N
    leaves exactly N whatever earlier runs or a load test did.
    """

    def __init__(self, client: httpx.Client, staff_client: httpx.Client) -> None:
        self.client = client
        self.staff_client = staff_client

    def product_payload(self, **overrides: Any) -> dict[str, Any]:
        token = unique()
        payload = {
            "sku": f"CT-{token.upper()}",
            "name": f"Contract Widget {token}",
            "description": "A product made by the contract suite.",
            "category": CONTRACT_CATEGORY,
            "price": "10.00",
        }
        return payload | overrides

    def create_product(self, *, stock: int = 0, **overrides: Any) -> dict[str, Any]:
        response = self.staff_client.post("/api/products/", json=self.product_payload(**overrides))
        product = expect(response, 201)
        if stock:
            self.restock(product["id"], stock)
        return product

    def restock(self, product_id: int, quantity: int) -> int:
        response = self.staff_client.post(
            f"/api/inventory/{product_id}/restock/", json={"quantity": quantity}
        )
        return expect(response, 200)["available"]

    def available(self, product_id: int) -> int:
        return expect(self.client.get(f"/api/inventory/{product_id}/"), 200)["available"]

    def create_cart(self, items: dict[int, int] | None = None) -> dict[str, Any]:
        """An open cart holding `items` ({product_id: quantity})."""
        cart = expect(self.client.post("/api/carts/"), 201)
        for product_id, quantity in (items or {}).items():
            cart = self.add_item(cart["id"], product_id, quantity)
        return cart

    def add_item(self, cart_id: str, product_id: int, quantity: int) -> dict[str, Any]:
        response = self.client.post(
            f"/api/carts/{cart_id}/items/", json={"product_id": product_id, "quantity": quantity}
        )
        return expect(response, 201)

    def cart(self, cart_id: str) -> dict[str, Any]:
        return expect(self.client.get(f"/api/carts/{cart_id}/"), 200)

    def checkout(
        self,
        cart_id: str,
        *,
        payment_token: str = "tok_visa",
        email: str | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
        payload = {
            "cart_id": cart_id,
            "email": email or f"buyer-{unique()}@example.com",
            "payment_token": payment_token,
        }
        return self.client.post("/api/orders/", json=payload, headers=headers)

    def place_order(self, items: dict[int, int], **checkout_options: Any) -> dict[str, Any]:
        """A confirmed order for `items` ({product_id: quantity}), through a new cart."""
        cart = self.create_cart(items)
        return expect(self.checkout(cart["id"], **checkout_options), 201)
