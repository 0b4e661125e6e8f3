"""Checkout and cancellation: ordering orchestrates the other contexts through their api.

Still one database transaction, as in stage 01: the stock, the charge, the order and its
outbox event commit together, or none of them does. What changed is who does what: ordering
no longer touches another context's tables, and it no longer sends emails; it records an
event and whoever cares reacts to it.
"""

import uuid

from catalog import api as catalog_api
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from inventory import api as inventory_api
from kernel.errors import CartClosed, NotFound, ValidationFailed
from messaging import outbox
from payments import api as payments_api

from .events import OrderCancelled, OrderConfirmed, OrderedItem, OrderEvent
from .models import Cart, Order, OrderLine


@transaction.atomic
def place_order(
    *, cart_id: uuid.UUID, email: str, payment_token: str
) -> tuple[Order, list[OrderLine]]:
    """Check a cart out: reserve stock → charge → confirm. All of it commits, or none of it.

    Inventory locks the stock rows in product order before it reads them, so concurrent
    checkouts of the last units never oversell: the second waits for the first and then sees
    what is left. A declined payment raises, and the rollback puts the stock back.
    """
    cart = Cart.objects.select_for_update().filter(id=cart_id).first()
    if cart is None:
        raise ValidationFailed("cart_id", f"No cart with id {cart_id}.")
    if cart.status != Cart.Status.OPEN:
        raise CartClosed()
    items = list(cart.items.order_by("product_id"))
    if not items:
        raise ValidationFailed("cart_id", "The cart is empty.")
    products = catalog_api.products_get_many(product_ids=[item.product_id for item in items])
    unknown = [item.product_id for item in items if item.product_id not in products]
    if unknown:  # the catalog deletes nothing today; if it ever does, say so, do not crash
        raise ValidationFailed("cart_id", f"Products {unknown} are no longer sold.")

    inventory_api.reserve(quantities={item.product_id: item.quantity for item in items})
    order = Order.objects.create(
        cart=cart,
        email=email,
        status=Order.Status.CONFIRMED,
        total_cents=sum(products[item.product_id].price_cents * item.quantity for item in items),
    )
    lines = OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            product_id=item.product_id,
            sku=products[item.product_id].sku,
            name=products[item.product_id].name,
            unit_price_cents=products[item.product_id].price_cents,
            quantity=item.quantity,
        )
        for item in items
    )
    payments_api.charge(order_id=order.id, amount_cents=order.total_cents, token=payment_token)
    cart.status = Cart.Status.CHECKED_OUT
    cart.save(update_fields=["status"])
    outbox.record(_event(OrderConfirmed, order, lines))
    return order, lines


@transaction.atomic
def cancel_order(*, order_id: uuid.UUID) -> Order:
    """Cancel a confirmed order: stock back, charge refunded, event recorded. Idempotent."""
    order = Order.objects.select_for_update().filter(id=order_id).first()
    if order is None:
        raise NotFound(f"No order with id {order_id}.")
    if order.status == Order.Status.CANCELLED:
        return order
    lines = list(order.lines.order_by("product_id"))
    inventory_api.release(quantities={line.product_id: line.quantity for line in lines})
    payments_api.refund(order_id=order.id)
    order.status = Order.Status.CANCELLED
    order.cancelled_at = timezone.now()
    order.save(update_fields=["status", "cancelled_at"])
    outbox.record(_event(OrderCancelled, order, lines))
    return order


def get(*, order_id: uuid.UUID) -> Order:
    """An order with its lines: two queries, whatever its size, and no call to the catalog
    (the lines carry their snapshot)."""
    lines = Prefetch("lines", queryset=OrderLine.objects.order_by("id"))
    order = Order.objects.prefetch_related(lines).filter(id=order_id).first()
    if order is None:
        raise NotFound(f"No order with id {order_id}.")
    return order


def _event(event_type: type[OrderEvent], order: Order, lines: list[OrderLine]) -> OrderEvent:
    return event_type(
        order_id=order.id,
        email=order.email,
        items=tuple(
            OrderedItem(**line.snapshot()) for line in sorted(lines, key=lambda line: line.id)
        ),
        total_cents=order.total_cents,
    )
