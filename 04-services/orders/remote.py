"""The other services, as the orders service calls them: one function per call, each with
the idempotency key that makes it safe to send again.

The keys come from the saga, never from the moment: the reservation id is the saga's id,
the charge key "charge-<order id>", the refund key "refund-<order id>". A call retried by
the channel, replayed by the recovery or sent again after a crash therefore names the same
reservation or charge, and the callee answers what it did the first time instead of
reserving or charging twice. Failures arrive as the chassis's domain errors
(ServiceUnavailable when the callee is down or too slow).
"""

from collections.abc import Iterable, Mapping

from chassis import clients
from chassis.money import CURRENCY
from shop.catalog.v1 import catalog_pb2
from shop.inventory.v1 import inventory_pb2
from shop.payments.v1 import payments_pb2

from .models import CheckoutSaga

APPROVED, VOIDED = payments_pb2.Charge.APPROVED, payments_pb2.Charge.VOIDED


# --- catalog ---------------------------------------------------------------------------------
def products(product_ids: Iterable[int]) -> dict[int, catalog_pb2.Product]:
    """The catalog's products of these ids, by id, in one call; unknown ids are left out."""
    ids = list(product_ids)
    if not ids:
        return {}
    request = catalog_pb2.BatchGetProductsRequest(ids=ids)
    answer = clients.catalog.call("BatchGetProducts", request)
    return {product.id: product for product in answer.products}


# --- inventory: keyed by the saga's id -------------------------------------------------------
def reserve(saga: CheckoutSaga, *, quantities: Mapping[int, int]) -> inventory_pb2.Reservation:
    request = inventory_pb2.ReserveRequest(
        reservation_id=saga.reservation_id,
        lines=[
            inventory_pb2.ReservationLine(product_id=product_id, quantity=quantity)
            for product_id, quantity in quantities.items()
        ],
    )
    return clients.inventory.call("Reserve", request)


def commit(saga: CheckoutSaga) -> inventory_pb2.Reservation:
    request = inventory_pb2.CommitRequest(reservation_id=saga.reservation_id)
    return clients.inventory.call("Commit", request)


def release(saga: CheckoutSaga) -> inventory_pb2.Reservation:
    """Give the stock back: held or committed. An id never reserved leaves a tombstone, so a
    Reserve still on its way takes nothing when it lands."""
    request = inventory_pb2.ReleaseRequest(reservation_id=saga.reservation_id)
    return clients.inventory.call("Release", request)


# --- payments: keyed by the order's id -------------------------------------------------------
def create_charge(
    saga: CheckoutSaga, *, amount_cents: int, payment_token: str
) -> payments_pb2.Charge:
    """The charge (APPROVED or DECLINED: a decline is an answer, not an error), or VOIDED:
    another driver of the saga gave the checkout up first (void_charge), nothing was taken."""
    request = payments_pb2.CreateChargeRequest(
        idempotency_key=saga.charge_key,
        order_id=str(saga.order_id),
        amount_cents=amount_cents,
        currency=CURRENCY,
        payment_token=payment_token,
    )
    return clients.payments.call("CreateCharge", request)


def void_charge(saga: CheckoutSaga) -> payments_pb2.Charge:
    """Settle the saga's charge for good: the charge made with its key (APPROVED, DECLINED,
    REFUNDED; one being made is waited for), or VOIDED when none was, and then none will be:
    a CreateCharge still on its way answers the void and takes nothing. How a saga that may
    have asked for money finds out, before it gives the checkout up, that it did or never
    will (GetCharge's "none yet" could be overtaken by the charge a moment later)."""
    request = payments_pb2.VoidChargeRequest(
        idempotency_key=saga.charge_key, order_id=str(saga.order_id)
    )
    return clients.payments.call("VoidCharge", request)


def refund(saga: CheckoutSaga, *, charge_id: str) -> payments_pb2.Charge:
    request = payments_pb2.RefundChargeRequest(charge_id=charge_id, idempotency_key=saga.refund_key)
    return clients.payments.call("RefundCharge", request)
