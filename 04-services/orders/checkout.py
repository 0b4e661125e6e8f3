"""PlaceOrder: check the request, honour its Idempotency-Key, run the checkout saga live.

Stage 03 did all of this in one transaction. Here only the first step is a transaction of
ours (the pending order and its saga); the rest are calls to other services, each written
down in the saga before and after it is made (sagas.py):

1. the pending order and its saga, priced by the catalog (a refusal: ValidationFailed,
   CartClosed, and nothing was written). Another checkout of the cart under way is waited
   for first, as the cart's row lock made it wait at stages 01-03;
2. inventory.Reserve. OutOfStock: the order fails, nothing is held. No answer: go back at
   once (Release);
3. payments.CreateCharge. Declined or a bad token: go back (Release). No answer: left to the
   recovery, because only the payments service knows whether it charged (the recovery voids
   the charge's key to find out for good). VOIDED: the recovery gave this checkout up while
   the call was on its way, and nothing was taken: go back, or leave it to the recovery if
   it has the saga already; never confirm;
4. inventory.Commit. The hold expired: go back (Release, refund). No answer: left to the
   recovery, which goes forward (the money is taken);
5. confirm, in one transaction: the order, the cart, the outbox event.

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

import contextlib
import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import NoReturn

from chassis import deadlines, telemetry
from chassis.errors import (
    IdempotencyKeyReused,
    PaymentDeclined,
    ServiceUnavailable,
    ShopError,
    ValidationFailed,
)
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from . import carts, orders, remote, sagas
from .models import CheckoutSaga, Order, OrderLine

MAX_IDEMPOTENCY_KEY = Order._meta.get_field("idempotency_key").max_length
VOIDED = "The payment was not confirmed in time and was cancelled."
# What the customer is told of the payment when a checkout ends in ServiceUnavailable.
PAYMENT_WORDS = {
    "none": "Nothing was charged; the checkout can be tried again.",
    "unknown": (
        "Order {order_id} is pending and the payment may have been taken: do not check out "
        "again with a new Idempotency-Key; send the same request with the same key to learn "
        "how it ended (confirmed, or cancelled and refunded)."
    ),
    "refunded": "The charge was refunded.",
}
Step = CheckoutSaga.Step


class _KeyTaken(Exception):
    """Another request with this Idempotency-Key began its checkout first."""


class _CheckoutUnderWay(Exception):
    """Another checkout of this cart is running (its saga's id: `saga_id`)."""

    def __init__(self, saga_id: uuid.UUID):
        super().__init__(saga_id)
        self.saga_id = saga_id


def place_order(
    *, cart_id: uuid.UUID, email: str, payment_token: str, idempotency_key: str = ""
) -> tuple[orders.Order, bool]:
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
            with _payment_is("none"):
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
        return _run(saga, payment_token=payment_token), False
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


def _earlier_order(*, idempotency_key: str, fingerprint: str) -> orders.Order | None:
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


def _run(saga: CheckoutSaga, *, payment_token: str) -> orders.Order:
    """Steps 2 to 5 (the list in the module's docstring)."""
    order = saga.order
    with _payment_is("none"):
        try:
            quantities = dict(order.lines.values_list("product_id", "quantity"))
            remote.reserve(saga, quantities=quantities)
        except ShopError as error:
            if isinstance(error, sagas.UNCERTAIN):
                _go_back_now(saga, error)
            sagas.fail(saga, reason=error)  # all lines or none: nothing is held
            raise

    sagas.move(saga, step=Step.CHARGE, charge_key=f"charge-{order.id}")
    try:
        charge = remote.create_charge(
            saga, amount_cents=order.total_cents, payment_token=payment_token
        )
    except ShopError as error:
        if isinstance(error, sagas.UNCERTAIN):
            sagas.note_error(saga, error)
            with _payment_is("unknown", order_id=order.id):
                raise
        with _payment_is("none"):
            _go_back_now(saga, error)
    with _payment_is("none"):
        if charge.status == remote.VOIDED:
            _go_back_now(saga, ServiceUnavailable(VOIDED, details={"service": "payments"}))
        if charge.status != remote.APPROVED:
            _go_back_now(saga, PaymentDeclined())

    # TakenOver here (raised as it is): the driver that took the saga over can only have
    # voided its key after this charge was made (else the charge would be VOIDED), so
    # VoidCharge answered it this charge: it ends the saga forward, or back with a refund.
    sagas.move(saga, charge_id=charge.charge_id)
    with _payment_is("unknown", order_id=order.id):
        try:
            order = sagas.go_forward(saga)
        except ShopError as error:
            sagas.note_error(saga, error)  # charged: the recovery goes forward from here
            raise
    if order.status != Order.Status.CONFIRMED:
        # The hold ended before the commit (sagas.go_forward went back and refunded).
        with _payment_is("refunded"):
            raise ServiceUnavailable(
                "The stock could not be sold after all.", details={"service": "inventory"}
            )
    return orders.view(order)


@contextlib.contextmanager
def _payment_is(payment: str, *, order_id: uuid.UUID | None = None) -> Iterator[None]:
    """A ServiceUnavailable raised inside says what became of the payment (PAYMENT_WORDS)."""
    try:
        yield
    except ServiceUnavailable as error:
        if error.details and "payment" in error.details:
            raise
        error.message = f"{error.message} {PAYMENT_WORDS[payment].format(order_id=order_id)}"
        error.args = (error.message,)
        error.details = {**(error.details or {}), "payment": payment}
        raise


def _go_back_now(saga: CheckoutSaga, error: ShopError) -> NoReturn:
    """Compensate at once and raise `error`; if a service needed to go back is down, raise
    that instead and leave the rest to the recovery."""
    try:
        sagas.go_back(saga, reason=error)
    except sagas.TakenOver:
        raise  # another driver (the recovery) has the saga and ends it: leave it be
    except ShopError as stuck:
        sagas.note_error(saga, stuck)
        if isinstance(stuck, deadlines.OutOfTime) and isinstance(error, ServiceUnavailable):
            raise error from stuck  # no time left to go back: what failed is still `error`
        raise stuck from error
    raise error
