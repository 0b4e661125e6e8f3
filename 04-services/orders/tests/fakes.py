"""Fake catalog, inventory and payments services for the orders service's tests.

Small gRPC servicers with the contracts' semantics (idempotent by reservation id and by
charge key, tombstones on Release, declines as answers, a void that a late charge answers),
served in-process on a real channel, that a test can tell to fail:

- `fake.fail("Commit")`: the service is down for that method (UNAVAILABLE before it does
  anything) until `fake.heal()`; `times=1` fails once only (the channel's retry then gets
  through);
- `fake.fail("CreateCharge", lost=True)`: the call does its work, then its answer is lost
  (UNAVAILABLE after the fact), as when a network drops the reply;
- `fake.hold("CreateCharge")`: the call waits until the returned event is set, so a test can
  act while a checkout is in the middle of a step.

They count every call by method and record what they were asked (`requests`), so tests can
check that a retry carried the same key and never charged or reserved twice.
"""

import functools
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass

import grpc
from chassis import grpc_errors
from chassis.errors import (
    InvalidState,
    NotFound,
    OutOfStock,
    ShopError,
    ValidationFailed,
)
from chassis.grpc_server import registers
from grpc_status import rpc_status
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.payments.v1 import payments_pb2, payments_pb2_grpc

HOLD_TIMEOUT = 10.0  # seconds: a held call never outlives a test that forgot to let it go
Reservation = inventory_pb2.Reservation
Charge = payments_pb2.Charge


@dataclass
class _Failure:
    lost: bool  # the work is done, the answer lost
    times: int | None  # None: until healed


class Fake:
    """Call counting and failure scripting, shared by the three fakes."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.requests: defaultdict[str, list] = defaultdict(list)
        self._failures: dict[str, _Failure] = {}
        self._holds: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def fail(self, method: str, *, lost: bool = False, times: int | None = None) -> None:
        self._failures[method] = _Failure(lost=lost, times=times)

    def heal(self) -> None:
        self._failures.clear()

    def hold(self, method: str) -> threading.Event:
        """Make calls of `method` wait until the event is set (the test sets it)."""
        self._holds[method] = threading.Event()
        return self._holds[method]

    def _failure(self, method: str) -> _Failure | None:
        failure = self._failures.get(method)
        if failure is not None and failure.times is not None:
            failure.times -= 1
            if failure.times == 0:
                del self._failures[method]
        return failure


def _down(context) -> None:
    """End the call as a service that is down does: a bare UNAVAILABLE, no servicer's error
    in it (the channel may retry it)."""
    context.abort(grpc.StatusCode.UNAVAILABLE, "connection refused")


def scripted(method):
    """Count the call, apply the test's script, turn a raised ShopError into its status."""

    @functools.wraps(method)
    def call(self: Fake, request, context):
        name = method.__name__
        with self._lock:
            self.calls[name] += 1
            self.requests[name].append(request)
            failure = self._failure(name)
        if name in self._holds:
            self._holds[name].wait(HOLD_TIMEOUT)
        if failure is not None and not failure.lost:
            _down(context)
        try:
            with self._lock:
                answer = method(self, request, context)
        except ShopError as error:
            context.abort_with_status(rpc_status.to_status(grpc_errors.to_status(error)))
        if failure is not None:
            _down(context)
        return answer

    return call


class FakeCatalog(Fake, catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self) -> None:
        super().__init__()
        self.products: dict[int, catalog_pb2.Product] = {}

    def add(self, product_id: int, *, price_cents: int = 1000) -> catalog_pb2.Product:
        self.products[product_id] = catalog_pb2.Product(
            id=product_id,
            sku=f"T-{product_id:04d}",
            name=f"Thing {product_id}",
            category="things",
            price_cents=price_cents,
            currency="EUR",
        )
        return self.products[product_id]

    @scripted
    def BatchGetProducts(self, request, context):
        known = [self.products[id] for id in dict.fromkeys(request.ids) if id in self.products]
        return catalog_pb2.BatchGetProductsResponse(products=known)


class FakeInventory(Fake, inventory_pb2_grpc.InventoryServiceServicer):
    def __init__(self) -> None:
        super().__init__()
        self.stock: dict[int, int] = {}
        self.reservations: dict[str, Reservation] = {}
        self.expire_before_commit = False  # every hold ends before its Commit arrives

    def expire(self, reservation_id: str) -> None:
        """What the service's expiry sweep does to a hold nobody committed in time."""
        reservation = self.reservations[reservation_id]
        self._give_back(reservation)
        reservation.status = Reservation.RELEASED

    @scripted
    def Reserve(self, request, context):
        if request.reservation_id in self.reservations:  # idempotent; a tombstone takes nothing
            return self.reservations[request.reservation_id]
        shortages = [
            {
                "product_id": line.product_id,
                "requested": line.quantity,
                "available": self.stock.get(line.product_id, 0),
            }
            for line in request.lines
            if line.quantity > self.stock.get(line.product_id, 0)
        ]
        if shortages:
            raise OutOfStock(shortages)
        for line in request.lines:
            self.stock[line.product_id] -= line.quantity
        reservation = Reservation(
            reservation_id=request.reservation_id, status=Reservation.HELD, lines=request.lines
        )
        self.reservations[request.reservation_id] = reservation
        return reservation

    @scripted
    def Commit(self, request, context):
        reservation = self.reservations.get(request.reservation_id)
        if reservation is None:
            raise NotFound(f"No reservation {request.reservation_id}.")
        if self.expire_before_commit and reservation.status == Reservation.HELD:
            self.expire(request.reservation_id)
        if reservation.status == Reservation.HELD:
            reservation.status = Reservation.COMMITTED
        if reservation.status != Reservation.COMMITTED:
            raise InvalidState(f"Reservation {request.reservation_id} was released.")
        return reservation

    @scripted
    def Release(self, request, context):
        reservation = self.reservations.setdefault(
            request.reservation_id,
            Reservation(reservation_id=request.reservation_id, status=Reservation.RELEASED),
        )
        if reservation.status in (Reservation.HELD, Reservation.COMMITTED):
            self._give_back(reservation)
            reservation.status = (
                Reservation.RETURNED
                if reservation.status == Reservation.COMMITTED
                else Reservation.RELEASED
            )
        return reservation

    def _give_back(self, reservation: Reservation) -> None:
        for line in reservation.lines:
            self.stock[line.product_id] += line.quantity


class FakePayments(Fake, payments_pb2_grpc.PaymentsServiceServicer):
    APPROVED_TOKENS = {"tok_visa", "tok_mastercard"}
    DECLINED_TOKENS = {"tok_chargeDeclined"}

    def __init__(self) -> None:
        super().__init__()
        self.charges: dict[str, Charge] = {}  # by idempotency key

    def charge_of(self, order_id) -> Charge | None:
        return self.charges.get(f"charge-{order_id}")

    @scripted
    def CreateCharge(self, request, context):
        if request.idempotency_key in self.charges:
            return self.charges[request.idempotency_key]
        if request.payment_token not in self.APPROVED_TOKENS | self.DECLINED_TOKENS:
            raise ValidationFailed("payment_token", "Unknown payment token.")
        charge = Charge(
            charge_id=f"ch_{len(self.charges) + 1}",
            idempotency_key=request.idempotency_key,
            order_id=request.order_id,
            amount_cents=request.amount_cents,
            currency=request.currency,
            status=Charge.APPROVED
            if request.payment_token in self.APPROVED_TOKENS
            else Charge.DECLINED,
        )
        self.charges[request.idempotency_key] = charge
        return charge

    @scripted
    def RefundCharge(self, request, context):
        charge = next((c for c in self.charges.values() if c.charge_id == request.charge_id), None)
        if charge is None:
            raise NotFound(f"No charge {request.charge_id}.")
        if charge.status == Charge.APPROVED:
            charge.status = Charge.REFUNDED
        return charge

    @scripted
    def VoidCharge(self, request, context):
        """The charge made with the key, or a VOIDED record that a later CreateCharge with it
        answers (the fake's lock makes the two atomic, as the real service's unique key)."""
        if request.idempotency_key not in self.charges:
            self.charges[request.idempotency_key] = Charge(
                charge_id=f"ch_{len(self.charges) + 1}",
                idempotency_key=request.idempotency_key,
                order_id=request.order_id,
                currency="EUR",
                status=Charge.VOIDED,
            )
        return self.charges[request.idempotency_key]


class Fakes:
    """The three fakes, served by one in-process server (`register`)."""

    def __init__(self) -> None:
        self.catalog = FakeCatalog()
        self.inventory = FakeInventory()
        self.payments = FakePayments()

    def product(self, product_id: int, *, price_cents: int = 1000, stock: int = 100) -> int:
        self.catalog.add(product_id, price_cents=price_cents)
        self.inventory.stock[product_id] = stock
        return product_id

    def heal(self) -> None:
        for fake in (self.catalog, self.inventory, self.payments):
            fake.heal()

    @property
    def register(self):
        @registers(
            "shop.catalog.v1.CatalogService",
            "shop.inventory.v1.InventoryService",
            "shop.payments.v1.PaymentsService",
        )
        def register(server) -> None:
            catalog_pb2_grpc.add_CatalogServiceServicer_to_server(self.catalog, server)
            inventory_pb2_grpc.add_InventoryServiceServicer_to_server(self.inventory, server)
            payments_pb2_grpc.add_PaymentsServiceServicer_to_server(self.payments, server)

        return register
