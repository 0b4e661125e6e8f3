"""Order events as the orders service records them, with sensible defaults."""

import uuid

from chassis.order_events import OrderedItem, OrderEvent


def an_order_event(
    event_class: type[OrderEvent],
    *,
    order_id: uuid.UUID | None = None,
    email: str = "ada@example.com",
    items: tuple[OrderedItem, ...] = (
        OrderedItem(product_id=1, sku="KI-0001", name="Kettle", unit_price_cents=1250, quantity=2),
    ),
) -> OrderEvent:
    return event_class(
        order_id=order_id or uuid.uuid4(),
        email=email,
        items=items,
        total_cents=sum(item.unit_price_cents * item.quantity for item in items),
    )
