"""The payments service's gRPC API, `shop.payments.v1.PaymentsService`, for the orders service.

proto/shop/payments/v1/payments.proto is the contract. Each method unpacks the request, calls
one function of `charges`, and packs the charge it returns. Errors are raised there as the
chassis's exceptions and become statuses in `chassis.grpc_server.rpc`: ValidationFailed ->
INVALID_ARGUMENT (an unknown payment token, a reused key), NotFound -> NOT_FOUND,
InvalidState -> FAILED_PRECONDITION (refunding a declined or voided charge).
"""

from chassis.grpc_server import registers, rpc
from google.protobuf.timestamp_pb2 import Timestamp
from shop.payments.v1 import payments_pb2, payments_pb2_grpc

from . import charges
from .models import Charge

# PENDING has no entry: no committed charge is ever pending (models.Charge.Status).
STATUSES = {
    Charge.Status.APPROVED: payments_pb2.Charge.APPROVED,
    Charge.Status.DECLINED: payments_pb2.Charge.DECLINED,
    Charge.Status.REFUNDED: payments_pb2.Charge.REFUNDED,
    Charge.Status.VOIDED: payments_pb2.Charge.VOIDED,
}


def _message(charge: Charge) -> payments_pb2.Charge:
    created_at = Timestamp()
    created_at.FromDatetime(charge.created_at)
    return payments_pb2.Charge(
        charge_id=str(charge.charge_id),
        idempotency_key=charge.idempotency_key,
        order_id=charge.order_id,
        amount_cents=charge.amount_cents,
        currency=charge.currency,
        status=STATUSES[charge.status],
        created_at=created_at,
    )


class PaymentsServicer(payments_pb2_grpc.PaymentsServiceServicer):
    @rpc
    def CreateCharge(self, request, context):  # noqa: N802 (gRPC's method names)
        charge = charges.create_charge(
            idempotency_key=request.idempotency_key,
            order_id=request.order_id,
            amount_cents=request.amount_cents,
            currency=request.currency,
            payment_token=request.payment_token,
        )
        return _message(charge)

    @rpc
    def RefundCharge(self, request, context):  # noqa: N802
        charge = charges.refund_charge(
            charge_id=request.charge_id, idempotency_key=request.idempotency_key
        )
        return _message(charge)

    @rpc
    def GetCharge(self, request, context):  # noqa: N802
        return _message(charges.charge_get(idempotency_key=request.idempotency_key))

    @rpc
    def VoidCharge(self, request, context):  # noqa: N802
        charge = charges.void_charge(
            idempotency_key=request.idempotency_key, order_id=request.order_id
        )
        return _message(charge)

    @rpc
    def ListCharges(self, request, context):  # noqa: N802
        page, next_page_token = charges.charge_page(
            page_size=request.page_size, page_token=request.page_token
        )
        return payments_pb2.ListChargesResponse(
            charges=[_message(charge) for charge in page], next_page_token=next_page_token
        )


@registers("shop.payments.v1.PaymentsService")
def register(server) -> None:
    payments_pb2_grpc.add_PaymentsServiceServicer_to_server(PaymentsServicer(), server)
