"""The checkout saga: the moves it may make (TRANSITIONS), its steps forward to a confirmed
order and back to a failed one, a confirmed order's cancellation, and the recovery of sagas a
crash left half-way.

A saga's row says where it is: its (state, step) (see models.CheckoutSaga). Three rules keep
"nothing is charged without a confirmed order, and no stock is lost" true whatever fails,
whenever:

- Before the charge, any doubt goes back: nothing was paid, so giving the stock back is
  always right (a Release of a reservation that never happened leaves a tombstone, so a
  Reserve still on its way takes nothing when it lands).
- After an approved charge, the saga goes forward: the money is taken, so the order must
  happen. Only when the inventory refuses the commit (the hold expired) does it go back,
  and then the charge is refunded.
- Unsure whether the charge happened (the payments service did not answer)? Only the
  payments service knows, and asking is not enough: a CreateCharge still on its way (from a
  request that crashed, or is merely slow) could land just after "no charge yet". So the
  recovery voids the charge's key (VoidCharge): payments answers the charge if one was made
  (approved: forward), or records that none ever will be (voided: back; the late
  CreateCharge then takes nothing). Every way back after the charge step voids the key the
  same way, which is also how it finds an approved charge to refund.

Every call is idempotent by its key (remote.py), so a direction is always driven from its
first step: a driver that takes over a saga half-way simply redoes what may have been done,
and nothing happens twice. Each step is written down before its call (`move`). Every move is
one that TRANSITIONS allows (anything else is a bug: IllegalMove, and nothing is written),
and a compare-and-set on the saga's (state, step): if another driver moved it first (the
recovery, while a slow request was still on its way; a second CancelOrder), this one stops
with TakenOver and leaves the saga to it.
"""

import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import NoReturn

from chassis import deadlines, outbox, telemetry
from chassis.errors import (
    InternalError,
    InvalidState,
    NotFound,
    PaymentDeclined,
    ServiceUnavailable,
    ShopError,
)
from chassis.order_events import OrderCancelled, OrderConfirmed, OrderedItem, OrderEvent
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import remote
from .models import Cart, CheckoutSaga, Order

logger = logging.getLogger(__name__)

State, Step = CheckoutSaga.State, CheckoutSaga.Step
# The errors after which a call may or may not have done its work: the callee was down, too
# slow, or failed inside. Any other error is the callee's clear "no".
UNCERTAIN = (ServiceUnavailable, InternalError)
# How long a request waits for a saga another driver is running (a replay of a checkout in
# progress, a second cancel): as long as this many remote calls may take. A saga still
# running after that waits for a service that is down, and the recovery will end it.
WAIT_CALLS = 3
POLL_SECONDS = 0.05
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

# --- the moves a saga may make ---------------------------------------------------------------
# From each place a saga can be, (state, step), the places `move` may take it to. Drawn in
# ../README.md ("The saga's moves"), and tests/test_sagas.py keeps the drawing and this table
# the same. A move to where the saga already is: a driver that took the saga over redoes the
# first step of its direction (every call is idempotent), or notes the approved charge's id.
Place = tuple[str, str]
TRANSITIONS: dict[Place, tuple[Place, ...]] = {
    # forward: run_checkout, then go_forward (also the recovery, once the charge is approved)
    (State.RUNNING, Step.RESERVE): (
        (State.RUNNING, Step.CHARGE),  # held: ask for the money
        (State.FAILED, Step.DONE),  # refused (out of stock): nothing is held
        (State.COMPENSATING, Step.RELEASE),  # no answer: give back what may be held
    ),
    (State.RUNNING, Step.CHARGE): (
        (State.RUNNING, Step.CHARGE),  # approved: its charge id noted
        (State.RUNNING, Step.COMMIT),
        (State.COMPENSATING, Step.RELEASE),  # declined, voided, or the recovery found none
    ),
    (State.RUNNING, Step.COMMIT): (
        (State.RUNNING, Step.COMMIT),  # the recovery: charge id noted, commit redone
        (State.RUNNING, Step.CONFIRM),
        (State.COMPENSATING, Step.RELEASE),  # the hold had expired: back, refunding
    ),
    (State.RUNNING, Step.CONFIRM): (
        (State.RUNNING, Step.CONFIRM),  # the recovery: charge id noted
        (State.RUNNING, Step.COMMIT),  # the recovery goes forward from its first step
        (State.CONFIRMED, Step.DONE),
        (State.COMPENSATING, Step.RELEASE),  # the recovery found no approved charge
    ),
    # back: go_back, then fail
    (State.COMPENSATING, Step.RELEASE): (
        (State.COMPENSATING, Step.RELEASE),  # the recovery goes back from its first step
        (State.COMPENSATING, Step.REFUND),  # a charge was asked for: settle it
        (State.FAILED, Step.DONE),
    ),
    (State.COMPENSATING, Step.REFUND): (
        (State.COMPENSATING, Step.RELEASE),  # the recovery goes back from its first step
        (State.FAILED, Step.DONE),
    ),
    # a confirmed order's cancellation: cancel
    (State.CONFIRMED, Step.DONE): (
        (State.CANCELLING, Step.REFUND),
        (State.CANCELLED, Step.DONE),  # cancelled by choreography (choreography.py)
    ),
    (State.CANCELLING, Step.REFUND): (
        (State.CANCELLING, Step.REFUND),  # the next CancelOrder, or the recovery, redoes it
        (State.CANCELLING, Step.RELEASE),
    ),
    (State.CANCELLING, Step.RELEASE): (
        (State.CANCELLING, Step.REFUND),  # the next CancelOrder, or the recovery, from the start
        (State.CANCELLED, Step.DONE),
    ),
    # the ends
    (State.FAILED, Step.DONE): (),
    (State.CANCELLED, Step.DONE): (),
}


class TakenOver(ServiceUnavailable):
    """Another driver moved the saga first; it finishes it. The caller may ask again."""

    message = "This order is being processed by another request; try again shortly."


class IllegalMove(Exception):
    """A move TRANSITIONS does not allow: a bug in the saga's code, never the caller's."""


def move(saga: CheckoutSaga, **changes) -> None:
    """Write the saga's next state or step (and any other fields), if nobody moved it since
    this driver last read it; else raise TakenOver. A move TRANSITIONS does not allow raises
    IllegalMove and writes nothing. Updates `saga` in place."""
    here = (saga.state, saga.step)
    there = (changes.get("state", saga.state), changes.get("step", saga.step))
    if there not in TRANSITIONS.get(here, ()):
        raise IllegalMove(
            f"saga {saga.pk}: no move from {'/'.join(here)} to {'/'.join(there)} "
            "(the allowed moves are sagas.TRANSITIONS)"
        )
    changes["updated_at"] = timezone.now()
    moved = CheckoutSaga.objects.filter(pk=saga.pk, state=saga.state, step=saga.step).update(
        **changes
    )
    if not moved:
        logger.info("event=saga_taken_over saga=%s order=%s", saga.pk, saga.order_id)
        raise TakenOver()
    for field, value in changes.items():
        setattr(saga, field, value)
    logger.info(
        "event=saga_moved saga=%s order=%s state=%s step=%s",
        saga.pk,
        saga.order_id,
        saga.state,
        saga.step,
    )


def note_error(saga: CheckoutSaga, error: Exception) -> None:
    """Write down why the saga stopped where it is (the recovery will pick it up)."""
    saga.last_error = _describe(error)
    CheckoutSaga.objects.filter(pk=saga.pk).update(
        last_error=saga.last_error, updated_at=timezone.now()
    )
    logger.warning(
        "event=saga_stopped saga=%s order=%s state=%s step=%s error=%s",
        saga.pk,
        saga.order_id,
        saga.state,
        saga.step,
        saga.last_error,
    )


# --- forward ---------------------------------------------------------------------------------
def run_checkout(saga: CheckoutSaga, *, payment_token: str) -> Order:
    """The checkout's steps after its first (checkout._begin: the pending order and this
    saga, at running/reserve), as the request that began it runs them:

    1. inventory.Reserve. OutOfStock: the order fails, nothing is held. No answer: go back at
       once (Release);
    2. payments.CreateCharge. Declined or a bad token: go back (Release). No answer: left to
       the recovery, because only the payments service knows whether it charged (the
       recovery voids the charge's key to find out for good). VOIDED: the recovery gave this
       checkout up while the call was on its way, and nothing was taken: go back, or leave it
       to the recovery if it has the saga already; never confirm;
    3. inventory.Commit. The hold expired: go back (Release, refund). No answer: left to the
       recovery, which goes forward (the money is taken);
    4. confirm, in one transaction: the order, the cart, the outbox event.

    Returns the confirmed order. A failure raises its error, saying what became of the
    payment (payment_is)."""
    order = saga.order
    with payment_is("none"):
        try:
            quantities = dict(order.lines.values_list("product_id", "quantity"))
            remote.reserve(saga, quantities=quantities)
        except ShopError as error:
            if isinstance(error, UNCERTAIN):
                _go_back_now(saga, error)
            fail(saga, reason=error)  # all lines or none: nothing is held
            raise

    move(saga, step=Step.CHARGE, charge_key=f"charge-{order.id}")
    try:
        charge = remote.create_charge(
            saga, amount_cents=order.total_cents, payment_token=payment_token
        )
    except ShopError as error:
        if isinstance(error, UNCERTAIN):
            note_error(saga, error)
            with payment_is("unknown", order_id=order.id):
                raise
        with payment_is("none"):
            _go_back_now(saga, error)
    with payment_is("none"):
        if charge.status == remote.VOIDED:
            _go_back_now(saga, ServiceUnavailable(VOIDED, details={"service": "payments"}))
        if charge.status != remote.APPROVED:
            _go_back_now(saga, PaymentDeclined())

    # TakenOver here (raised as it is): the driver that took the saga over can only have
    # voided its key after this charge was made (else the charge would be VOIDED), so
    # VoidCharge answered it this charge: it ends the saga forward, or back with a refund.
    move(saga, charge_id=charge.charge_id)
    with payment_is("unknown", order_id=order.id):
        try:
            order = go_forward(saga)
        except ShopError as error:
            note_error(saga, error)  # charged: the recovery goes forward from here
            raise
    if order.status != Order.Status.CONFIRMED:
        # The hold ended before the commit (go_forward went back and refunded).
        with payment_is("refunded"):
            raise ServiceUnavailable(
                "The stock could not be sold after all.", details={"service": "inventory"}
            )
    return order


def go_forward(saga: CheckoutSaga) -> Order:
    """From an approved charge (saga.charge_id) to a confirmed order: commit the reservation,
    then confirm. Returns the order: confirmed, or failed when the inventory refused the
    commit (the hold had expired or was released) and the saga went back, refunding."""
    move(saga, step=Step.COMMIT)
    try:
        remote.commit(saga)
    except (InvalidState, NotFound) as refused:
        return go_back(saga, reason=refused)
    move(saga, step=Step.CONFIRM)
    with transaction.atomic():
        move(saga, state=State.CONFIRMED, step=Step.DONE, ended_at=timezone.now())
        order = _order(saga)
        order.status = Order.Status.CONFIRMED
        order.save(update_fields=["status"])
        Cart.objects.filter(pk=order.cart_id).update(status=Cart.Status.CHECKED_OUT)
        outbox.record(_event(OrderConfirmed, order))
    logger.info("event=order_confirmed order=%s total_cents=%s", order.id, order.total_cents)
    return order


# --- back ------------------------------------------------------------------------------------
def go_back(saga: CheckoutSaga, *, reason: Exception | str) -> Order:
    """Undo a checkout: give the stock back, refund the charge if one was approved, mark the
    order failed (its cart stays open). Returns the failed order."""
    move(saga, state=State.COMPENSATING, step=Step.RELEASE, last_error=_describe(reason))
    remote.release(saga)
    if saga.charge_key:  # the charge step started: settle it, refund it if it took money
        move(saga, step=Step.REFUND)
        charge = remote.void_charge(saga)
        if charge.status == remote.APPROVED:
            remote.refund(saga, charge_id=charge.charge_id)
    return fail(saga, reason=saga.last_error)


def fail(saga: CheckoutSaga, *, reason: Exception | str) -> Order:
    """End the saga as failed, with nothing left to give back. The order's Idempotency-Key
    is given up: the same request again is a new checkout, as at stages 01-03, where a
    failed checkout rolled its key back with it."""
    with transaction.atomic():
        move(
            saga,
            state=State.FAILED,
            step=Step.DONE,
            ended_at=timezone.now(),
            last_error=_describe(reason),
        )
        order = _order(saga)
        order.status, order.idempotency_key = Order.Status.FAILED, None
        order.save(update_fields=["status", "idempotency_key"])
    logger.info("event=order_failed order=%s reason=%s", order.id, saga.last_error)
    return order


def _go_back_now(saga: CheckoutSaga, error: ShopError) -> NoReturn:
    """Compensate at once and raise `error`; if a service needed to go back is down, raise
    that instead and leave the rest to the recovery."""
    try:
        go_back(saga, reason=error)
    except TakenOver:
        raise  # another driver (the recovery) has the saga and ends it: leave it be
    except ShopError as stuck:
        note_error(saga, stuck)
        if isinstance(stuck, deadlines.OutOfTime) and isinstance(error, ServiceUnavailable):
            raise error from stuck  # no time left to go back: what failed is still `error`
        raise stuck from error
    raise error


# --- cancellation ----------------------------------------------------------------------------
def cancel(saga: CheckoutSaga) -> Order:
    """Undo a confirmed order: refund the charge, return the stock (Release of a committed
    reservation), mark the order cancelled with its event. Also how a cancellation left
    half-way is finished (by the next CancelOrder or the recovery): it only goes forward."""
    move(saga, state=State.CANCELLING, step=Step.REFUND)
    remote.refund(saga, charge_id=saga.charge_id)
    move(saga, step=Step.RELEASE)
    remote.release(saga)
    with transaction.atomic():
        move(saga, state=State.CANCELLED, step=Step.DONE, ended_at=timezone.now())
        order = _order(saga)
        order.status, order.cancelled_at = Order.Status.CANCELLED, timezone.now()
        order.save(update_fields=["status", "cancelled_at"])
        outbox.record(_event(OrderCancelled, order))
    logger.info("event=order_cancelled order=%s", order.id)
    return order


def wait_for_end(saga_id) -> bool:
    """Wait for the saga, driven by another request, to end; whether it did in time."""
    seconds = settings.SHOP_GRPC_TIMEOUT * WAIT_CALLS
    left = deadlines.remaining()  # within the request's budget, less the margin to answer
    if left is not None:
        seconds = min(seconds, left - settings.SHOP_GRPC_DEADLINE_MARGIN)
    deadline = time.monotonic() + seconds
    unfinished = CheckoutSaga.objects.filter(pk=saga_id, state__in=CheckoutSaga.UNFINISHED)
    while unfinished.exists():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


# --- recovery --------------------------------------------------------------------------------
def recover_sagas(*, older_than_seconds: float, limit: int = 100) -> Counter:
    """Drive each saga left unfinished and unmoved for `older_than_seconds` to its end.

    Returns how many ended how: "confirmed", "failed", "cancelled", and "left" for those
    still unfinished (a service they need is down: the next round tries again). Safe to run
    twice at once: each round claims its sagas first (see _claim).
    """
    outcomes: Counter = Counter()
    for saga in _claim(older_than_seconds=older_than_seconds, limit=limit):
        # A trace of its own, linked to the checkout's: a recovery is new work, done maybe
        # hours later, and the checkout's trace ended when its request failed.
        with telemetry.tracer.start_as_current_span(
            "recover saga",
            links=telemetry.link_to(saga.traceparent),
            attributes={"shop.saga.id": str(saga.pk), "shop.order.id": str(saga.order_id)},
        ):
            try:
                outcomes[str(recover(saga).status)] += 1
            except TakenOver:
                outcomes["left"] += 1  # someone else is driving it now
            except ShopError as error:
                note_error(saga, error)
                outcomes["left"] += 1
    if outcomes:
        logger.info("event=sagas_recovered %s", summary(outcomes))
    return outcomes


def summary(outcomes: Counter) -> str:
    """The outcomes on one line (confirmed=2 failed=1), for the logs and the command."""
    return " ".join(f"{outcome}={count}" for outcome, count in sorted(outcomes.items()))


def recover(saga: CheckoutSaga) -> Order:
    """Drive one unfinished saga to its end (see the module's docstring for the rules)."""
    logger.info(
        "event=saga_recovering saga=%s order=%s state=%s step=%s",
        saga.pk,
        saga.order_id,
        saga.state,
        saga.step,
    )
    if saga.state == State.CANCELLING:
        return cancel(saga)
    if saga.state == State.RUNNING:
        charge = remote.void_charge(saga) if saga.charge_key else None
        if charge is not None and charge.status == remote.APPROVED:
            move(saga, charge_id=charge.charge_id)
            return go_forward(saga)
        return go_back(saga, reason="recovery: no approved charge")
    return go_back(saga, reason=saga.last_error)  # compensating: finish going back


def _claim(*, older_than_seconds: float, limit: int) -> list[CheckoutSaga]:
    """Take the sagas this round will drive: unfinished, unmoved for a while. Touching them
    makes them recent, so a second recovery running at the same moment does not take them
    too; on PostgreSQL it also skips the rows this one holds while claiming (SKIP LOCKED).
    SQLite lets one writer in at a time, so there the two simply take turns."""
    now = timezone.now()
    with transaction.atomic():
        sagas = list(
            CheckoutSaga.objects.select_for_update(skip_locked=True)
            .filter(
                state__in=CheckoutSaga.UNFINISHED,
                updated_at__lte=now - timedelta(seconds=older_than_seconds),
            )
            .order_by("updated_at")[:limit]
        )
        CheckoutSaga.objects.filter(pk__in=[saga.pk for saga in sagas]).update(updated_at=now)
    return sagas


# --- helpers ---------------------------------------------------------------------------------
@contextlib.contextmanager
def payment_is(payment: str, *, order_id: uuid.UUID | None = None) -> Iterator[None]:
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


def _order(saga: CheckoutSaga) -> Order:
    return Order.objects.prefetch_related("lines").get(pk=saga.order_id)


def _event(event_type: type[OrderEvent], order: Order) -> OrderEvent:
    return event_type(
        order_id=order.id,
        email=order.email,
        items=tuple(OrderedItem(**line.snapshot()) for line in order.lines.all()),
        total_cents=order.total_cents,
    )


def _describe(reason: Exception | str) -> str:
    if isinstance(reason, ShopError):
        return f"{reason.code}: {reason.message}"
    return reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
