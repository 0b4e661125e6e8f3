"""PlaceOrder: check the request, honour its Idempotency-Key, run the checkout saga live.

Stage 03 did all of this in one transaction. Here only the first step is a transaction of
ours: the pending order and its saga, priced by the catalog (a refusal: ValidationFailed,
CartClosed, and nothing was written). Another checkout of the cart under way is waited for
first, as the cart's row lock made it wait at stages 01-03. The rest are calls to other
services, each written down in the saga before and after it is made: the saga's steps, in
sagas.py (`sagas.run_checkout`: reserve, charge, commit, confirm).

"No answer" reaches the caller as ServiceUnavailable, naming the service that failed and
saying what became of the payment (details["payment"]): "none" before any charge was asked
for or after one was declined or voided, "unknown" once a charge may have been taken (the
order is pending: the client must send the same request with the same key, never a new
one), "refunded" when the stock could not be sold after the charge. The API's promise holds
once the services are back: nothing is charged without a confirmed order, and no stock is
lost.

Idempotency: the key is stored on the order (unique), with a hash of the request. The same
key and request answer the earlier order (replayed); a checkout with that key still under
way is waited for, for as long as a few remote calls take (`sagas.wait_for_end`), then
answered, or ServiceUnavailable if it is still going (the client asks again later and gets
its order). A failed checkout gives its key up, so the same request again is a new attempt,
as at stages 01-03.
"""

import hashlib
import json
import uuid

from chassis import telemetry
from chassis.errors import IdempotencyKeyReused, ServiceUnavailable, ValidationFailed
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from . import carts, orders, remote, sagas
from .models import CheckoutSaga, Order, OrderLine

MAX_IDEMPOTENCY_KEY = Order._meta.get_field("idempotency_key").max_length


class _KeyTaken(Exception):
    """Another request with this Idempotency-Key began its checkout first."""


class _CheckoutUnderWay(Exception):
    """Another checkout of this cart is running (its saga's id: `saga_id`)."""

    def __init__(self, saga_id: uuid.UUID):
        super().__init__(saga_id)
        self.saga_id = saga_id


def place_order(
    *, cart_id: uuid.UUID, email: str, payment_token: str, idempotency_key: str = ""
) -> tuple[orders.PlacedOrder, bool]:
    """Check a cart out; returns (order, replayed). Raises OutOfStock, PaymentDeclined,
    CartClosed, ValidationFailed, IdempotencyKeyReused; ServiceUnavailable when a service
    is down (the saga is then ended by the recovery: see the module's docstring)."""
    _check(email=email, idempotency_key=idempotency_key)
    fingerprint = _fingerprint(cart_id=cart_id, email=email, payment_token=payment_token)
    for _attempt in range(3):
        if idempotency_key:
            earlier = _earlier_order(idempotency_key=idempotency_key, fingerprint=fingerprint)
            if earlier is not None:
                return earlier, True
        try:
            with sagas.payment_is("none"):
                saga = _begin(
                    cart_id=cart_id,
                    email=email,
                    idempotency_key=idempotency_key,
                    fingerprint=fingerprint,
                )
        except _KeyTaken:
            continue  # answer as a replay of the request that took the key
        except _CheckoutUnderWay as under_way:
            # A double click, a retry after a 503: wait for that checkout to end, then look
            # again (the cart is then checked out, or open again).
            if not sagas.wait_for_end(under_way.saga_id):
                raise ServiceUnavailable(
                    "This cart is being checked out; try again shortly."
                ) from None
            continue
        return orders.view(sagas.run_checkout(saga, payment_token=payment_token)), False
    raise ServiceUnavailable("Other requests for this cart keep getting in first; try again.")


def _check(*, email: str, idempotency_key: str) -> None:
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationFailed("email", "Enter a valid email address.") from None
    if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed("idempotency_key", f"At most {MAX_IDEMPOTENCY_KEY} characters.")


def _fingerprint(*, cart_id: uuid.UUID, email: str, payment_token: str) -> str:
    request = [str(cart_id), email, payment_token]
    return hashlib.sha256(json.dumps(request).encode()).hexdigest()


def _earlier_order(*, idempotency_key: str, fingerprint: str) -> orders.PlacedOrder | None:
    """The order an earlier request with this key placed, once its saga has ended; None if
    there is none (or it failed, giving the key up)."""
    earlier = Order.objects.filter(idempotency_key=idempotency_key).select_related("saga").first()
    if earlier is None:
        return None
    if earlier.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if not sagas.wait_for_end(earlier.saga.pk):
        raise ServiceUnavailable(
            "An earlier request with this Idempotency-Key is still being processed; "
            "try again shortly."
        )
    earlier.refresh_from_db(fields=["status"])
    if earlier.status == Order.Status.FAILED:
        return None
    return orders.view(earlier)


def _begin(
    *, cart_id: uuid.UUID, email: str, idempotency_key: str, fingerprint: str
) -> CheckoutSaga:
    """Step 1, one local transaction: the pending order, its lines priced by the catalog
    now, and its saga. The cart stays locked meanwhile (one catalog call), so the lines
    priced are the lines ordered."""
    try:
        with transaction.atomic():
            cart = carts.lock(cart_id)
            if cart is None:
                raise ValidationFailed("cart_id", f"No cart with id {cart_id}.")
            # Checked after the lock: a twin request with this key waited for it, and now
            # sees the order the first one placed.
            if idempotency_key and Order.objects.filter(idempotency_key=idempotency_key).exists():
                raise _KeyTaken()
            carts.check_open(cart)
            under_way = carts.checkout_under_way(cart)
            if under_way is not None:
                raise _CheckoutUnderWay(under_way)
            items = list(cart.items.order_by("product_id"))
            if not items:
                raise ValidationFailed("cart_id", "The cart is empty.")
            products = remote.products(item.product_id for item in items)
            unknown = [item.product_id for item in items if item.product_id not in products]
            if unknown:  # the catalog deletes nothing today; if it ever does, say so
                raise ValidationFailed("cart_id", f"Products {unknown} are no longer sold.")
            order = Order.objects.create(
                cart=cart,
                email=email,
                total_cents=sum(
                    products[item.product_id].price_cents * item.quantity for item in items
                ),
                idempotency_key=idempotency_key or None,
                request_fingerprint=fingerprint,
            )
            OrderLine.objects.bulk_create(
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
            return CheckoutSaga.objects.create(
                order=order, traceparent=telemetry.current_traceparent()
            )
    except IntegrityError:
        # The unique key, or the one live order per cart: a request with the same key on
        # another cart, or a checkout of this cart, got in between (never on one cart: the
        # lock orders those).
        if idempotency_key and Order.objects.filter(idempotency_key=idempotency_key).exists():
            raise _KeyTaken() from None
        raise
