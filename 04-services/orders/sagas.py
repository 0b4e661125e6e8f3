"""The checkout saga's moves: forward to a confirmed order, back to a failed one, a confirmed
order's cancellation, and the recovery of sagas a crash left half-way.

A saga's row says where it is (see models.CheckoutSaga). Three rules keep "nothing is
charged without a confirmed order, and no stock is lost" true whatever fails, whenever:

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
and nothing happens twice. Each step is written down before its call (`move`), and every
move is a compare-and-set on the saga's (state, step): if another driver moved it first
(the recovery, while a slow request was still on its way; a second CancelOrder), this one
stops with TakenOver and leaves the saga to it.
"""

import logging
import time
from collections import Counter
from datetime import timedelta

from chassis import deadlines, outbox, telemetry
from chassis.errors import InternalError, InvalidState, NotFound, ServiceUnavailable, ShopError
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


class TakenOver(ServiceUnavailable):
    """Another driver moved the saga first; it finishes it. The caller may ask again."""

    message = "This order is being processed by another request; try again shortly."


def move(saga: CheckoutSaga, **changes) -> None:
    """Write the saga's next state or step (and any other fields), if nobody moved it since
    this driver last read it; else raise TakenOver. Updates `saga` in place."""
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


# --- the two directions ----------------------------------------------------------------------
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


def wait_for_end(saga_id, *, seconds: float | None = None) -> bool:
    """Wait for the saga, driven by another request, to end; whether it did in time."""
    if seconds is None:
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
