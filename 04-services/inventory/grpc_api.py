"""shop.inventory.v1.InventoryService: each method unpacks, calls stock.py, packs the answer.

No rule lives here. Errors are stock.py's domain errors; the chassis's `rpc` wrapper turns
them into statuses (OutOfStock: FAILED_PRECONDITION, reason "out_of_stock", the shortages in
the details), and every client reads them back into the same errors.
"""

from chassis.grpc_server import registers, rpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc

from . import stock

STATUSES = {
    stock.Status.HELD: inventory_pb2.Reservation.HELD,
    stock.Status.COMMITTED: inventory_pb2.Reservation.COMMITTED,
    stock.Status.RELEASED: inventory_pb2.Reservation.RELEASED,
    stock.Status.RETURNED: inventory_pb2.Reservation.RETURNED,
}


class InventoryServicer(inventory_pb2_grpc.InventoryServiceServicer):
    @rpc
    def GetAvailability(self, request, context):
        levels = stock.levels(product_ids=request.product_ids)
        return inventory_pb2.GetAvailabilityResponse(
            levels=[
                inventory_pb2.StockLevel(
                    product_id=product_id, available=level or 0, stocked=level is not None
                )
                for product_id, level in levels.items()
            ]
        )

    @rpc
    def Restock(self, request, context):
        available = stock.restock(
            product_id=request.product_id,
            quantity=request.quantity,
            idempotency_key=request.idempotency_key,
        )
        return inventory_pb2.StockLevel(
            product_id=request.product_id, available=available, stocked=True
        )

    @rpc
    def Reserve(self, request, context):
        reservation = stock.reserve(
            reservation_id=request.reservation_id,
            lines=[(line.product_id, line.quantity) for line in request.lines],
            hold_seconds=request.hold_seconds,
        )
        return _reservation(reservation)

    @rpc
    def Commit(self, request, context):
        return _reservation(stock.commit(reservation_id=request.reservation_id))

    @rpc
    def Release(self, request, context):
        return _reservation(stock.release(reservation_id=request.reservation_id))


def _reservation(reservation: stock.Reservation) -> inventory_pb2.Reservation:
    message = inventory_pb2.Reservation(
        reservation_id=reservation.reservation_id,
        status=STATUSES[reservation.status],
        lines=[
            inventory_pb2.ReservationLine(product_id=product_id, quantity=quantity)
            for product_id, quantity in reservation.quantities.items()
        ],
    )
    if reservation.expires_at is not None:  # a tombstone has none
        message.expires_at.FromDatetime(reservation.expires_at)
    return message


@registers("shop.inventory.v1.InventoryService")
def register(server) -> None:
    inventory_pb2_grpc.add_InventoryServiceServicer_to_server(InventoryServicer(), server)
