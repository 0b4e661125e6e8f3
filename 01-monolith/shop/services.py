"""Use cases that change state: one transaction each, row locks where two requests can race.

Views call exactly one of these with validated input. Every rule of the shop lives here;
side effects (emails) are queued only after the transaction commits.
"""

import logging
import uuid

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from . import payments
from .errors import CartClosed, IdempotencyKeyReused, NotFound, OutOfStock, ValidationFailed
from .models import (
    Cart,
    CartItem,
    Category,
    Charge,
    IdempotencyKey,
    Order,
    OrderLine,
    Product,
    StockLevel,
)
from .money import cents_to_str

logger = logging.getLogger(__name__)

MAX_LINE_QUANTITY = 99


# --- catalog ---------------------------------------------------------------------------------
@transaction.atomic
def product_create(
    *, sku: str, name: str, description: str, category: str, price_cents: int
) -> Product:
    """Create a product (and its category, if new); it starts with nothing in stock."""
    if Product.objects.filter(sku=sku).exists():
        raise ValidationFailed("sku", "A product with this sku already exists.")
    category_row, _ = Category.objects.get_or_create(slug=category)
    try:
        with transaction.atomic():
            product = Product.objects.create(
                sku=sku,
                name=name,
                description=description,
                category=category_row,
                price_cents=price_cents,
            )
    except IntegrityError as exc:  # two creates of the same sku raced past the check above
        raise ValidationFailed("sku", "A product with this sku already exists.") from exc
    StockLevel.objects.create(product=product, available=0)
    return product


@transaction.atomic
def product_update(
    *,
    product_id: int,
    name: str | None = None,
    description: str | None = None,
    category: str | None = None,
    price_cents: int | None = None,
) -> Product:
    product = Product.objects.select_for_update().filter(id=product_id).first()
    if product is None:
        raise NotFound(f"No product with id {product_id}.")
    if name is not None:
        product.name = name
    if description is not None:
        product.description = description
    if category is not None:
        product.category, _ = Category.objects.get_or_create(slug=category)
    if price_cents is not None:
        product.price_cents = price_cents
    product.save()
    return product


# --- inventory -------------------------------------------------------------------------------
@transaction.atomic
def restock(*, product_id: int, quantity: int) -> int:
    """Add units to a product's stock; returns what is now available."""
    updated = StockLevel.objects.filter(product_id=product_id).update(
        available=F("available") + quantity
    )
    if not updated:
        raise NotFound(f"No product with id {product_id}.")
    return StockLevel.objects.values_list("available", flat=True).get(product_id=product_id)


# --- carts -----------------------------------------------------------------------------------
def cart_create() -> Cart:
    return Cart.objects.create()


def _open_cart_for_update(cart_id: uuid.UUID) -> Cart:
    """Lock the cart row, so a change and a checkout of one cart happen one after the other."""
    cart = Cart.objects.select_for_update().filter(id=cart_id).first()
    if cart is None:
        raise NotFound(f"No cart with id {cart_id}.")
    if cart.status != Cart.Status.OPEN:
        raise CartClosed()
    return cart


@transaction.atomic
def cart_add_item(*, cart_id: uuid.UUID, product_id: int, quantity: int) -> Cart:
    """Add a product to a cart; adding one already there adds to its quantity."""
    cart = _open_cart_for_update(cart_id)
    if not Product.objects.filter(id=product_id).exists():
        raise ValidationFailed("product_id", f"No product with id {product_id}.")
    item = CartItem.objects.filter(cart=cart, product_id=product_id).first()
    if item is None:
        CartItem.objects.create(cart=cart, product_id=product_id, quantity=quantity)
        return cart
    if item.quantity + quantity > MAX_LINE_QUANTITY:
        raise ValidationFailed(
            "quantity", f"A cart line holds at most {MAX_LINE_QUANTITY} (has {item.quantity})."
        )
    item.quantity += quantity
    item.save(update_fields=["quantity"])
    return cart


@transaction.atomic
def cart_set_item_quantity(*, cart_id: uuid.UUID, product_id: int, quantity: int) -> Cart:
    cart = _open_cart_for_update(cart_id)
    if not CartItem.objects.filter(cart=cart, product_id=product_id).update(quantity=quantity):
        raise NotFound(f"Product {product_id} is not in this cart.")
    return cart


@transaction.atomic
def cart_remove_item(*, cart_id: uuid.UUID, product_id: int) -> Cart:
    cart = _open_cart_for_update(cart_id)
    deleted, _ = CartItem.objects.filter(cart=cart, product_id=product_id).delete()
    if not deleted:
        raise NotFound(f"Product {product_id} is not in this cart.")
    return cart


# --- orders ----------------------------------------------------------------------------------
@transaction.atomic
def place_order(*, cart_id: uuid.UUID, email: str, payment_token: str) -> Order:
    """Check a cart out: reserve stock, charge, confirm. All of it commits, or none of it.

    The stock rows are locked (SELECT ... FOR UPDATE, in product order so that two checkouts
    cannot deadlock) before they are read, so concurrent checkouts of the last units never
    oversell: the second waits for the first and then sees what is left.
    """
    cart = Cart.objects.select_for_update().filter(id=cart_id).first()
    if cart is None:
        raise ValidationFailed("cart_id", f"No cart with id {cart_id}.")
    if cart.status != Cart.Status.OPEN:
        raise CartClosed()
    items = list(cart.items.select_related("product").order_by("product_id"))
    if not items:
        raise ValidationFailed("cart_id", "The cart is empty.")

    stock = {
        level.product_id: level
        for level in StockLevel.objects.select_for_update()
        .filter(product_id__in=[item.product_id for item in items])
        .order_by("product_id")
    }
    shortages = [
        {"product_id": item.product_id, "requested": item.quantity, "available": available}
        for item in items
        if item.quantity > (available := stock[item.product_id].available)
    ]
    if shortages:
        raise OutOfStock(shortages)

    order = Order.objects.create(
        cart=cart,
        email=email,
        status=Order.Status.CONFIRMED,
        total_cents=sum(item.product.price_cents * item.quantity for item in items),
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            product_id=item.product_id,
            unit_price_cents=item.product.price_cents,
            quantity=item.quantity,
        )
        for item in items
    )
    payments.charge(order=order, token=payment_token)  # a decline rolls everything back
    for item in items:
        level = stock[item.product_id]
        level.available -= item.quantity
        level.save(update_fields=["available"])
    cart.status = Cart.Status.CHECKED_OUT
    cart.save(update_fields=["status"])
    _queue_email_after_commit("send_order_confirmation", order.id)
    return order


def place_order_once(
    *,
    idempotency_key: str,
    request_fingerprint: str,
    cart_id: uuid.UUID,
    email: str,
    payment_token: str,
) -> tuple[Order, bool]:
    """Place an order at most once per Idempotency-Key; returns (order, replayed).

    The key row is inserted in the same transaction as the order. When two requests with one
    key race, the database's unique index makes the second insert wait for the first
    transaction: if that one committed, the second replays its order; if it rolled back (a
    decline, say), the second goes ahead as if it came first.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    key=idempotency_key, request_fingerprint=request_fingerprint
                )
        except IntegrityError:
            record = IdempotencyKey.objects.select_related("order").get(key=idempotency_key)
            if record.request_fingerprint != request_fingerprint:
                raise IdempotencyKeyReused() from None
            return record.order, True
        order = place_order(cart_id=cart_id, email=email, payment_token=payment_token)
        record.order = order
        record.save(update_fields=["order"])
        return order, False


@transaction.atomic
def cancel_order(*, order_id: uuid.UUID) -> Order:
    """Cancel a confirmed order: refund the charge and put the stock back. Idempotent."""
    order = Order.objects.select_for_update().filter(id=order_id).first()
    if order is None:
        raise NotFound(f"No order with id {order_id}.")
    if order.status == Order.Status.CANCELLED:
        return order
    lines = list(order.lines.order_by("product_id"))
    stock = {  # locked in product order, as checkout locks them, so the two cannot deadlock
        level.product_id: level
        for level in StockLevel.objects.select_for_update()
        .filter(product_id__in=[line.product_id for line in lines])
        .order_by("product_id")
    }
    for line in lines:
        level = stock[line.product_id]
        level.available += line.quantity
        level.save(update_fields=["available"])
    payments.refund(charge=Charge.objects.select_for_update().get(order=order))
    order.status = Order.Status.CANCELLED
    order.cancelled_at = timezone.now()
    order.save(update_fields=["status", "cancelled_at"])
    _queue_email_after_commit("send_order_cancellation", order.id)
    return order


def _queue_email_after_commit(task_name: str, order_id: uuid.UUID) -> None:
    """Queue an email task once the order is committed (never for a rolled-back order).

    If the broker is down at that moment the order stands and the email is lost: this is
    the weakness of "send after save" that stage 02's transactional outbox removes.
    """
    from . import tasks  # tasks import services; importing here avoids the cycle

    def publish() -> None:
        try:
            getattr(tasks, task_name).delay(str(order_id))
        except Exception:  # a broker error must not turn a placed order into a 500
            logger.exception("event=email_not_queued task=%s order_id=%s", task_name, order_id)

    transaction.on_commit(publish)


# --- notifications ---------------------------------------------------------------------------
EMAILS = {
    "confirmation": ("confirmation_sent_at", "Your order {id} is confirmed"),
    "cancellation": ("cancellation_sent_at", "Your order {id} is cancelled"),
}


@transaction.atomic
def order_email_send(*, order_id: uuid.UUID, kind: str) -> bool:
    """Send an order's confirmation or cancellation email once; False if nothing was sent.

    The order row is locked while the email goes out, so a task delivered twice (or two
    workers racing) sends one email.
    """
    sent_field, subject = EMAILS[kind]
    order = Order.objects.select_for_update().filter(id=order_id).first()
    if order is None:
        logger.warning("event=email_skipped reason=unknown_order order_id=%s", order_id)
        return False
    if getattr(order, sent_field) is not None:
        return False
    lines = order.lines.select_related("product").order_by("id")
    body = "\n".join(
        [
            f"Order {order.id} ({order.status})",
            "",
            *(
                f"{line.quantity} x {line.product.name} ({line.product.sku}) "
                f"at {cents_to_str(line.unit_price_cents)} EUR"
                for line in lines
            ),
            "",
            f"Total: {cents_to_str(order.total_cents)} EUR",
        ]
    )
    send_mail(subject.format(id=order.id), body, None, [order.email])
    setattr(order, sent_field, timezone.now())
    order.save(update_fields=[sent_field])
    logger.info("event=email_sent kind=%s order_id=%s", kind, order.id)
    return True
