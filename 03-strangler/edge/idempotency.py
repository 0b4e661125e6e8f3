"""Idempotency-Key for POST /api/orders/: the same request twice places one order."""

import uuid

from django.db import IntegrityError, transaction
from kernel.errors import IdempotencyKeyReused
from ordering import api as ordering_api

from .models import IdempotencyKey


def place_order_once(
    *,
    idempotency_key: str,
    request_fingerprint: str,
    cart_id: uuid.UUID,
    email: str,
    payment_token: str,
) -> tuple[ordering_api.Order, bool]:
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
            record = IdempotencyKey.objects.get(key=idempotency_key)
            if record.request_fingerprint != request_fingerprint:
                raise IdempotencyKeyReused() from None
            return ordering_api.order_get(order_id=record.order_id), True
        order = ordering_api.place_order(cart_id=cart_id, email=email, payment_token=payment_token)
        record.order_id = order.id
        record.save(update_fields=["order_id"])
        return order, False
