"""Small factories of the services' messages, with sensible defaults: a test states only what
it cares about (`a_product(price_cents=999)`, `a_cart(items=[a_line(quantity=2)])`)."""

import uuid
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from shop.catalog.v1 import catalog_pb2
from shop.orders.v1 import orders_pb2

CREATED_AT = datetime(2026, 11, 24, 10, 0, 0, 123456, tzinfo=UTC)


def a_product(
    *,
    id: int = 1,
    sku: str = "KI-0001",
    name: str = "Kettle",
    description: str = "Boils.",
    category: str = "kitchen",
    price_cents: int = 1250,
) -> catalog_pb2.Product:
    return catalog_pb2.Product(
        id=id,
        sku=sku,
        name=name,
        description=description,
        category=category,
        price_cents=price_cents,
        currency="EUR",
    )


def a_line(
    *,
    product_id: int = 1,
    sku: str = "KI-0001",
    name: str = "Kettle",
    unit_price_cents: int = 1250,
    quantity: int = 2,
) -> orders_pb2.Line:
    return orders_pb2.Line(
        product_id=product_id,
        sku=sku,
        name=name,
        unit_price_cents=unit_price_cents,
        quantity=quantity,
        line_total_cents=unit_price_cents * quantity,
    )


def a_cart(
    *, id: str | None = None, status: str = "open", items: list[orders_pb2.Line] = ()
) -> orders_pb2.Cart:
    return orders_pb2.Cart(
        id=id or str(uuid.uuid4()),
        status=status,
        items=items,
        total_cents=sum(line.line_total_cents for line in items),
        currency="EUR",
    )


def an_order(
    *,
    id: str | None = None,
    status: str = "confirmed",
    email: str = "ada@example.com",
    items: list[orders_pb2.Line] | None = None,
    created_at: datetime = CREATED_AT,
) -> orders_pb2.Order:
    items = [a_line()] if items is None else items
    timestamp = Timestamp()
    timestamp.FromDatetime(created_at)
    return orders_pb2.Order(
        id=id or str(uuid.uuid4()),
        status=status,
        email=email,
        items=items,
        total_cents=sum(line.line_total_cents for line in items),
        currency="EUR",
        created_at=timestamp,
    )
