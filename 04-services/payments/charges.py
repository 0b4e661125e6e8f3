"""The payments service's use cases: charge, refund, void, and the two reads of the record.

Both writes are idempotent by the caller's key, and must stay so when two copies of one call
arrive at the same moment (a retry that overtook a slow first try, two saga recoveries).
A check ("is there a charge with this key?") followed by a charge cannot do that: both copies
pass the check before either has written. So, as stage 03's Idempotency-Key does, a charge
first claims its key by inserting its row, in the transaction that then asks the provider
and records the answer. The unique index on the key decides between two copies: on
PostgreSQL the second insert waits for the first transaction and fails once it commits;
on SQLite the second transaction cannot even begin before the first ends. The loser reads
the winner's charge and answers it. The provider is asked once.

The price of that: the transaction stays open while the provider answers, holding one
database connection for the length of a provider call. With a real provider's seconds of
latency that would bound the charges in flight by the connection pool; the fake answers
at once.

A void claims a key the same way, with a VOIDED row instead of a pending one. That is what
lets the orders service's recovery give a checkout up safely: "no charge with this key yet"
(GetCharge) says nothing about a CreateCharge still on its way, which may land a moment
later and take money for a failed order. A void settles the key for good: it waits for a
charge being made with it and answers that charge, or, if there is none, its row makes any
later CreateCharge with the key answer the void, without asking the provider.
"""

import logging
import uuid

from chassis.errors import InvalidState, NotFound, PaymentDeclined, ValidationFailed
from chassis.money import CURRENCY
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import provider
from .models import Charge

logger = logging.getLogger(__name__)

KEY_MAX_LENGTH = Charge._meta.get_field("idempotency_key").max_length
ORDER_ID_MAX_LENGTH = Charge._meta.get_field("order_id").max_length
KEY_REUSED = "This idempotency key was already used for another charge."
REFUND_KEY_REUSED = "This idempotency key was already used to refund another charge."


def _require(field: str, value: str, max_length: int) -> None:
    if not value.strip():
        raise ValidationFailed(field, "This field may not be blank.")
    if len(value) > max_length:
        raise ValidationFailed(
            field, f"Ensure this field has no more than {max_length} characters."
        )


def _check_charge(
    *, idempotency_key: str, order_id: str, amount_cents: int, currency: str, payment_token: str
) -> None:
    """Refuse what no provider should see; the first rule broken is the one reported."""
    _require("idempotency_key", idempotency_key, KEY_MAX_LENGTH)
    _require("order_id", order_id, ORDER_ID_MAX_LENGTH)
    if amount_cents < 1:
        raise ValidationFailed("amount_cents", "The amount must be greater than 0.")
    if currency != CURRENCY:
        raise ValidationFailed("currency", f"Charges are in {CURRENCY}.")
    if payment_token not in provider.KNOWN_TOKENS:
        raise ValidationFailed("payment_token", "Unknown payment token.")


def _replayed(charge: Charge, **asked: str | int) -> Charge:
    """The charge made earlier with this key, if this call asks for that same charge (the
    same order, amount and currency). A void has no amount: it answers a charge of its order,
    whatever the amount."""
    if charge.status == Charge.Status.VOIDED:
        asked = {"order_id": asked["order_id"]}
    if any(getattr(charge, field) != value for field, value in asked.items()):
        raise ValidationFailed("idempotency_key", KEY_REUSED)
    logger.info("event=charge_replayed charge_id=%s", charge.charge_id)
    return charge


def _claim(idempotency_key: str, **fields) -> Charge | None:
    """Insert the row of `idempotency_key` (a pending charge, or a void); None if a call with
    the key got there first. Its transaction has then ended (the insert waited for it if it
    was still open): its row is committed and readable now."""
    try:
        with transaction.atomic():  # a savepoint inside a caller's transaction
            return Charge.objects.create(idempotency_key=idempotency_key, **fields)
    except IntegrityError:
        return None


def create_charge(
    *,
    idempotency_key: str,
    order_id: str,
    amount_cents: int,
    currency: str = "",
    payment_token: str,
) -> Charge:
    """Charge `amount_cents` for order `order_id`, once per `idempotency_key`.

    Returns the charge, APPROVED or DECLINED (a decline is an answer, recorded like any
    other, not an error). The same key again returns the first charge without asking the
    provider, if it asks for the same charge; a different order, amount or currency under
    the same key is a mistake of the caller's, refused (ValidationFailed on idempotency_key).
    """
    currency = currency or CURRENCY
    _check_charge(
        idempotency_key=idempotency_key,
        order_id=order_id,
        amount_cents=amount_cents,
        currency=currency,
        payment_token=payment_token,
    )
    same = {"order_id": order_id, "amount_cents": amount_cents, "currency": currency}
    # Most repeats come long after the first call: one read answers them, no write lock.
    earlier = Charge.objects.filter(idempotency_key=idempotency_key).first()
    if earlier is not None:
        return _replayed(earlier, **same)
    with transaction.atomic():
        charge = _claim(idempotency_key, status=Charge.Status.PENDING, **same)
        if charge is None:
            return _replayed(Charge.objects.get(idempotency_key=idempotency_key), **same)
        try:
            charge.provider_reference = provider.authorize(
                token=payment_token, amount_cents=amount_cents, idempotency_key=idempotency_key
            )
            charge.status = Charge.Status.APPROVED
        except PaymentDeclined:
            charge.status = Charge.Status.DECLINED
        charge.save(update_fields=["provider_reference", "status"])
    logger.info(
        "event=charge_created charge_id=%s order_id=%s amount_cents=%d status=%s",
        charge.charge_id,
        order_id,
        amount_cents,
        charge.status,
    )
    return charge


def void_charge(*, idempotency_key: str, order_id: str) -> Charge:
    """Settle what became of `idempotency_key`: the charge made with it, whatever its status
    (one being made right now is waited for), or, if none was, a VOIDED record of 0 cents for
    `order_id`, which any later CreateCharge with the key answers without charging. Voiding
    twice answers the first void. A key used for another order's charge is refused
    (ValidationFailed on idempotency_key), as CreateCharge refuses it."""
    _require("idempotency_key", idempotency_key, KEY_MAX_LENGTH)
    _require("order_id", order_id, ORDER_ID_MAX_LENGTH)
    # No read first, as CreateCharge has: a void is rare (a recovery's), and the read would
    # not see a charge being made anyway. The claim waits for that one.
    void = _claim(
        idempotency_key,
        order_id=order_id,
        amount_cents=0,
        currency=CURRENCY,
        status=Charge.Status.VOIDED,
    )
    if void is None:
        return _replayed(Charge.objects.get(idempotency_key=idempotency_key), order_id=order_id)
    logger.info("event=charge_voided charge_id=%s order_id=%s", void.charge_id, order_id)
    return void


def _locked(charge_id: str) -> Charge:
    """The charge `charge_id`, locked until the transaction ends (PostgreSQL; SQLite's
    transactions take the whole database anyway)."""
    try:
        charge = Charge.objects.select_for_update().filter(charge_id=uuid.UUID(charge_id)).first()
    except ValueError:  # not a UUID: no charge has that id
        charge = None
    if charge is None:
        raise NotFound(f"No charge with id {charge_id!r}.")
    return charge


def refund_charge(*, charge_id: str, idempotency_key: str) -> Charge:
    """Refund an approved charge, whole. Refunding a refunded charge answers it as it is,
    whatever the key: there is only one refund to make. A declined or voided charge took no
    money: refunding it is refused (InvalidState), it is not an unknown charge."""
    _require("idempotency_key", idempotency_key, KEY_MAX_LENGTH)
    try:
        with transaction.atomic():
            charge = _locked(charge_id)
            if charge.status == Charge.Status.REFUNDED:
                return charge
            if charge.status in (Charge.Status.DECLINED, Charge.Status.VOIDED):
                raise InvalidState(
                    f"A {charge.status} charge took no money: there is nothing to refund."
                )
            # Checked before the provider is asked: the unique index below would only roll
            # back our record of a refund the provider had already made.
            if Charge.objects.filter(refund_idempotency_key=idempotency_key).exists():
                raise ValidationFailed("idempotency_key", REFUND_KEY_REUSED)
            provider.refund(reference=charge.provider_reference)
            charge.status = Charge.Status.REFUNDED
            charge.refunded_at = timezone.now()
            charge.refund_idempotency_key = idempotency_key
            charge.save(update_fields=["status", "refunded_at", "refund_idempotency_key"])
    except IntegrityError:  # the same refund key, for another charge, at the same moment
        raise ValidationFailed("idempotency_key", REFUND_KEY_REUSED) from None
    logger.info("event=charge_refunded charge_id=%s", charge.charge_id)
    return charge


def charge_get(*, idempotency_key: str) -> Charge:
    """The charge made with this key (or its void). Only a read: a charge still on its way
    may land after it answers NotFound (void_charge is the question that settles it)."""
    charge = Charge.objects.filter(idempotency_key=idempotency_key).first()
    if charge is None:
        raise NotFound(f"No charge was made with idempotency key {idempotency_key!r}.")
    return charge


MAX_PAGE_SIZE = 1000  # ListCharges (payments.proto): about 150 kB of charges per answer


def charge_page(*, page_size: int, page_token: str) -> tuple[list[Charge], str]:
    """One page of every charge, oldest first, for reconciliation with the orders; voids too
    (0 cents), the record that a checkout was given up with nothing charged. Returns the
    charges and the token of the next page ("" after the last). The token is the last id
    answered (keyset paging): a charge made meanwhile lands on a later page, none is
    skipped or answered twice, and every page costs the same, however deep."""
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationFailed("page_size", f"Must be between 0 and {MAX_PAGE_SIZE}.")
    try:
        after = int(page_token) if page_token else 0
    except ValueError:
        raise ValidationFailed("page_token", "Not a token this service gave.") from None
    size = page_size or MAX_PAGE_SIZE
    page = list(Charge.objects.filter(id__gt=after).order_by("id")[: size + 1])
    if len(page) > size:
        return page[:size], str(page[size - 1].id)
    return page, ""
