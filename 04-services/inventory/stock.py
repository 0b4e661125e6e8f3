"""The inventory service's use cases: read and restock stock, reserve, commit, release.

One transaction per call, as in stages 01-03; what changed is who calls. The orders service
runs the checkout saga across the network, so any call may arrive twice (the channel retries
after UNAVAILABLE, the saga's recovery replays a step) or late (after the call meant to undo
it). Hence the rules, all keyed by the reservation id the caller chose:

- Reserve is all lines or none, and idempotent: the same id again answers the reservation
  it made, whatever became of it since, and takes nothing more.
- Commit and Release are idempotent too; Release of an id never seen leaves a tombstone (a
  RELEASED reservation with no lines), so that a Reserve arriving after its own compensation
  finds the id taken and holds nothing: without it, that late Reserve would keep stock
  that no order will ever commit or release (until expiry, at best).
- A held reservation not committed by its expires_at is given back: the sweep
  (`release_expired`, run by the reservation-expiry process) does it, and a Commit that
  comes too late does it too, and is refused.

Stock rows are locked in product order (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
IMMEDIATE transactions let one writer in at a time), so two calls on overlapping products
queue up instead of overselling or deadlocking. A reservation's own row is locked before
any stock row by every call that changes it, so those cannot deadlock either.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from chassis import telemetry
from chassis.errors import (
    IdempotencyKeyReused,
    InvalidState,
    NotFound,
    OutOfStock,
    ValidationFailed,
)
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from . import models

logger = logging.getLogger(__name__)

DEFAULT_HOLD_SECONDS = 15 * 60  # the .proto's "service's default"
MAX_HOLD_SECONDS = 24 * 60 * 60
MAX_RESTOCK = 100_000  # API.md: a restock adds 1..100000 units
# At most this many products per call: one IN (...) query must stay within what every
# database takes (SQLite's limit on query parameters), and no checkout comes near it.
MAX_PRODUCTS = 1000
MAX_RESERVATION_ID = models.Reservation._meta.get_field("reservation_id").max_length
MAX_IDEMPOTENCY_KEY = models.RestockRecord._meta.get_field("idempotency_key").max_length

Status = models.Reservation.Status


@dataclass(frozen=True)
class Reservation:
    """What a caller is told about a reservation. `quantities`: {product_id: units}, in
    product order; empty for a tombstone, which has no `expires_at` either."""

    reservation_id: str
    status: Status
    quantities: dict[int, int]
    expires_at: datetime | None


# --- Selectors -------------------------------------------------------------------------------
def levels(*, product_ids: Iterable[int]) -> dict[int, int | None]:
    """{product_id: units available} in the order asked, each product once; None for a
    product inventory has no row for (never stocked)."""
    wanted = list(dict.fromkeys(product_ids))
    if len(wanted) > MAX_PRODUCTS:
        raise ValidationFailed("product_ids", f"At most {MAX_PRODUCTS} products per call.")
    found = dict(
        models.StockLevel.objects.filter(product_id__in=wanted).values_list(
            "product_id", "available"
        )
    )
    return {product_id: found.get(product_id) for product_id in wanted}


def availability(*, product_ids: Iterable[int]) -> dict[int, int]:
    """{product_id: units available} in the order asked, each product once; a product
    inventory has no row for has 0 (a new product starts with nothing in stock)."""
    return {product_id: level or 0 for product_id, level in levels(product_ids=product_ids).items()}


# --- Services --------------------------------------------------------------------------------
def restock(*, product_id: int, quantity: int, idempotency_key: str = "") -> int:
    """Add `quantity` units to a product's stock (creating its row); returns what is now
    available. With an idempotency key, the same key again adds nothing and answers the
    current level; the same key for another product or quantity is refused
    (IdempotencyKeyReused: the gateway's 422, as for a reused Idempotency-Key)."""
    if product_id < 1:
        raise ValidationFailed("product_id", "Must be a product id (1 or more).")
    if not 1 <= quantity <= MAX_RESTOCK:
        raise ValidationFailed("quantity", f"Must be between 1 and {MAX_RESTOCK}.")
    if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise ValidationFailed("idempotency_key", f"At most {MAX_IDEMPOTENCY_KEY} characters.")
    with transaction.atomic():
        if idempotency_key and not _first_use(idempotency_key, product_id, quantity):
            logger.info(
                "event=restock_replayed product_id=%s idempotency_key=%s",
                product_id,
                idempotency_key,
            )
            return availability(product_ids=[product_id])[product_id]
        level, _ = models.StockLevel.objects.get_or_create(product_id=product_id)
        models.StockLevel.objects.filter(pk=level.pk).update(available=F("available") + quantity)
        # Read inside the transaction: the UPDATE holds the row, so this is our sum.
        available = models.StockLevel.objects.values_list("available", flat=True).get(pk=level.pk)
    logger.info(
        "event=stock_restocked product_id=%s quantity=%s available=%s",
        product_id,
        quantity,
        available,
    )
    return available


def reserve(
    *,
    reservation_id: str,
    lines: Iterable[tuple[int, int]],
    hold_seconds: int = 0,
    now: datetime | None = None,
) -> Reservation:
    """Hold the units of `lines` ((product_id, quantity) pairs; the same product twice is
    summed) for `hold_seconds` (0: DEFAULT_HOLD_SECONDS), all or nothing.

    Raises OutOfStock listing every shortage, having changed nothing. The same id again
    answers the existing reservation; with other lines it is refused (ValidationFailed).
    """
    _check_reservation_id(reservation_id)
    quantities = _summed(lines)
    if hold_seconds == 0:
        hold_seconds = DEFAULT_HOLD_SECONDS
    if not 1 <= hold_seconds <= MAX_HOLD_SECONDS:
        raise ValidationFailed(
            "hold_seconds", f"Must be between 1 and {MAX_HOLD_SECONDS} (0: the default)."
        )
    expires_at = (now or timezone.now()) + timedelta(seconds=hold_seconds)
    try:
        with transaction.atomic():
            existing = _find(reservation_id)
            if existing is not None:
                return _replayed(existing, quantities)
            # Claim the id before touching stock: a twin of this call running at the same
            # moment waits on the unique index, then fails here, holding nothing.
            reservation = models.Reservation.objects.create(
                reservation_id=reservation_id, status=Status.HELD, expires_at=expires_at
            )
            _take(quantities)
            models.ReservationLine.objects.bulk_create(
                models.ReservationLine(reservation=reservation, product_id=product, quantity=units)
                for product, units in quantities.items()
            )
    except IntegrityError:
        # The twin (a retry that overtook its original, or a Release that left a tombstone)
        # claimed the id first and committed: answer what it did.
        existing = _find(reservation_id)
        if existing is None:
            raise
        return _replayed(existing, quantities)
    logger.info(
        "event=stock_reserved reservation_id=%s lines=%s expires_at=%s",
        reservation_id,
        ",".join(f"{product_id}x{units}" for product_id, units in quantities.items()),
        expires_at.isoformat(),
    )
    return _answer(reservation, quantities)


def commit(*, reservation_id: str, now: datetime | None = None) -> Reservation:
    """Turn a held reservation into a sale (its units were taken at Reserve: nothing moves).

    Committed already: answered as it is. Released, returned, or held past its expiry:
    InvalidState (an expired one is released first, its units back in stock). NotFound when
    there is no such reservation.
    """
    _check_reservation_id(reservation_id)
    now = now or timezone.now()
    with transaction.atomic():
        reservation = _find(reservation_id, lock=True)
        if reservation is None:
            raise NotFound(f"No reservation {reservation_id}.")
        quantities = _quantities(reservation)
        expired = reservation.status == Status.HELD and reservation.expires_at <= now
        if expired:
            _give_back(reservation, quantities)
        elif reservation.status == Status.HELD:
            _set_status(reservation, Status.COMMITTED)
    # Raised after the transaction: the release of an expired reservation must stay done.
    if expired:
        raise InvalidState(
            f"Reservation {reservation_id} expired at {reservation.expires_at.isoformat()}; "
            "its stock was released."
        )
    if reservation.status != Status.COMMITTED:
        raise InvalidState(f"Reservation {reservation_id} was {reservation.status}.")
    return _answer(reservation, quantities)


def release(*, reservation_id: str) -> Reservation:
    """Give a reservation's units back: held -> released, committed -> returned (an order
    cancelled after its sale). Released or returned already: answered as it is.

    An id never seen leaves a tombstone (see the module's docstring) and is answered as
    RELEASED with no lines: no stock moves, now or when its Reserve arrives later.
    """
    _check_reservation_id(reservation_id)
    try:
        return _release(reservation_id)
    except IntegrityError:
        # Its Reserve arrived at the same moment and claimed the id first: release that.
        return _release(reservation_id)


def release_expired(*, now: datetime | None = None) -> int:
    """Release every held reservation whose expires_at has passed; returns how many.

    One transaction per reservation, each re-read under its lock: a Commit or Release
    running at the same moment wins or loses cleanly, and a long sweep holds no lock for long.
    """
    now = now or timezone.now()
    expired = models.Reservation.objects.filter(status=Status.HELD, expires_at__lte=now)
    released = 0
    for reservation_id in list(expired.values_list("reservation_id", flat=True)):
        # One trace per release: the sweep's query for work is not worth one (see telemetry).
        with (
            telemetry.tracer.start_as_current_span("release expired reservation"),
            transaction.atomic(),
        ):
            reservation = _find(reservation_id, lock=True)
            if reservation.status != Status.HELD:  # committed or released meanwhile
                continue
            _give_back(reservation, _quantities(reservation))
        logger.info(
            "event=reservation_expired reservation_id=%s expires_at=%s",
            reservation_id,
            reservation.expires_at.isoformat(),
        )
        released += 1
    return released


@transaction.atomic
def stock_ensure(*, levels: Mapping[int, int]) -> int:
    """Give the products in `levels` ({product_id: units}) that have no stock row one;
    returns how many were created. Existing rows are left alone. Seeds the demo stock."""
    existing = set(models.StockLevel.objects.values_list("product_id", flat=True))
    missing = [product_id for product_id in levels if product_id not in existing]
    models.StockLevel.objects.bulk_create(
        models.StockLevel(product_id=product_id, available=levels[product_id])
        for product_id in missing
    )
    return len(missing)


# --- Helpers ---------------------------------------------------------------------------------
def _check_reservation_id(reservation_id: str) -> None:
    if not 1 <= len(reservation_id) <= MAX_RESERVATION_ID:
        raise ValidationFailed("reservation_id", f"Must be 1 to {MAX_RESERVATION_ID} characters.")


def _summed(lines: Iterable[tuple[int, int]]) -> dict[int, int]:
    """{product_id: units} in product order, lines of the same product added up."""
    quantities: dict[int, int] = {}
    for product_id, quantity in lines:
        if product_id < 1:
            raise ValidationFailed("lines", f"{product_id} is not a product id.")
        if quantity < 1:
            raise ValidationFailed("lines", "Each quantity must be at least 1.")
        quantities[product_id] = quantities.get(product_id, 0) + quantity
    if not quantities:
        raise ValidationFailed("lines", "A reservation needs at least one line.")
    if len(quantities) > MAX_PRODUCTS:
        raise ValidationFailed("lines", f"At most {MAX_PRODUCTS} products per reservation.")
    return dict(sorted(quantities.items()))


def _first_use(idempotency_key: str, product_id: int, quantity: int) -> bool:
    """Record a restock's key; False if it was recorded before (that restock is done)."""
    try:
        with transaction.atomic():  # a savepoint: a duplicate must not spoil the outer one
            models.RestockRecord.objects.create(
                idempotency_key=idempotency_key, product_id=product_id, quantity=quantity
            )
        return True
    except IntegrityError:
        done = models.RestockRecord.objects.get(idempotency_key=idempotency_key)
    if (done.product_id, done.quantity) != (product_id, quantity):
        raise IdempotencyKeyReused("This idempotency key was already used for another restock.")
    return False


def _find(reservation_id: str, *, lock: bool = False) -> models.Reservation | None:
    reservations = models.Reservation.objects.filter(reservation_id=reservation_id)
    return (reservations.select_for_update() if lock else reservations).first()


def _quantities(reservation: models.Reservation) -> dict[int, int]:
    return dict(reservation.lines.order_by("product_id").values_list("product_id", "quantity"))


def _answer(reservation: models.Reservation, quantities: dict[int, int]) -> Reservation:
    return Reservation(
        reservation_id=reservation.reservation_id,
        status=Status(reservation.status),
        quantities=quantities,
        expires_at=reservation.expires_at,
    )


def _replayed(existing: models.Reservation, quantities: dict[int, int]) -> Reservation:
    """The answer to a Reserve whose id is taken: the reservation as it is, if the lines
    are the same (or it is a tombstone, which answers any lines and holds nothing)."""
    held = _quantities(existing)
    if held and held != quantities:
        raise ValidationFailed("reservation_id", "Already used for a reservation of other lines.")
    logger.info(
        "event=reserve_replayed reservation_id=%s status=%s",
        existing.reservation_id,
        existing.status,
    )
    return _answer(existing, held)


def _release(reservation_id: str) -> Reservation:
    with transaction.atomic():
        reservation = _find(reservation_id, lock=True)
        if reservation is None:
            reservation = models.Reservation.objects.create(
                reservation_id=reservation_id, status=Status.RELEASED, expires_at=None
            )
            logger.info("event=reservation_tombstone reservation_id=%s", reservation_id)
            return _answer(reservation, {})
        quantities = _quantities(reservation)
        _give_back(reservation, quantities)
    return _answer(reservation, quantities)


def _give_back(reservation: models.Reservation, quantities: dict[int, int]) -> None:
    """Put a locked reservation's units back in stock: held -> released, committed ->
    returned; a reservation already given back is left as it is."""
    given_back = {Status.HELD: Status.RELEASED, Status.COMMITTED: Status.RETURNED}
    if reservation.status not in given_back:
        return
    _put_back(quantities)
    _set_status(reservation, given_back[reservation.status])


def _set_status(reservation: models.Reservation, status: Status) -> None:
    logger.info(
        "event=reservation_%s reservation_id=%s was=%s",
        status,
        reservation.reservation_id,
        reservation.status,
    )
    reservation.status = status
    reservation.save(update_fields=["status", "updated_at"])


def _take(quantities: Mapping[int, int]) -> None:
    """Take `quantities` ({product_id: units}) out of stock, all or nothing; OutOfStock
    lists every shortage. Inside the caller's transaction, which keeps the rows locked."""
    levels = _locked_levels(quantities)
    shortages = [
        {"product_id": product_id, "requested": requested, "available": have}
        for product_id, requested in sorted(quantities.items())
        if requested > (have := levels[product_id].available if product_id in levels else 0)
    ]
    if shortages:
        raise OutOfStock(shortages)
    for product_id, units in quantities.items():
        models.StockLevel.objects.filter(product_id=product_id).update(
            available=F("available") - units
        )


def _put_back(quantities: Mapping[int, int]) -> None:
    """Put `quantities` back into stock, the rows locked in product order as `_take` does.
    Their rows exist: `_take` found them, and no stock row is ever deleted."""
    _locked_levels(quantities)
    for product_id, units in quantities.items():
        models.StockLevel.objects.filter(product_id=product_id).update(
            available=F("available") + units
        )


def _locked_levels(product_ids: Iterable[int]) -> dict[int, models.StockLevel]:
    """Lock the stock rows of these products (SELECT ... FOR UPDATE), in product order, so
    that two transactions locking overlapping products cannot deadlock."""
    rows = models.StockLevel.objects.select_for_update().filter(product_id__in=list(product_ids))
    return {level.product_id: level for level in rows.order_by("product_id")}
