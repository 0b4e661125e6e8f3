"""shop.inventory.v1.InventoryService over a real channel to an in-process server, through
chassis.clients.inventory: every RPC, its idempotency, and each error as the caller gets it
back (the domain error, decoded from the status) and as it travels (the status itself)."""

from datetime import UTC, timedelta

import grpc
import pytest
from chassis import clients
from chassis.errors import (
    IdempotencyKeyReused,
    InvalidState,
    NotFound,
    OutOfStock,
    ValidationFailed,
)
from django.utils import timezone
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc

from inventory.models import Reservation, RestockRecord, StockLevel

from .conftest import commit, lines_of, release, reserve, stock_level, stock_of

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the servicer runs in the server's threads
    pytest.mark.usefixtures("inventory_server"),
]

HELD, COMMITTED = inventory_pb2.Reservation.HELD, inventory_pb2.Reservation.COMMITTED
RELEASED, RETURNED = inventory_pb2.Reservation.RELEASED, inventory_pb2.Reservation.RETURNED


def availability(*product_ids: int) -> list[tuple[int, int]]:
    request = inventory_pb2.GetAvailabilityRequest(product_ids=product_ids)
    answer = clients.inventory.call("GetAvailability", request)
    return [(level.product_id, level.available) for level in answer.levels]


def test_availability_says_which_products_were_ever_stocked():
    restock(5, 3)

    answer = clients.inventory.call(
        "GetAvailability", inventory_pb2.GetAvailabilityRequest(product_ids=[5, 6])
    )

    assert [(level.product_id, level.stocked) for level in answer.levels] == [(5, True), (6, False)]


def restock(product_id: int, quantity: int, idempotency_key: str = "") -> inventory_pb2.StockLevel:
    request = inventory_pb2.RestockRequest(
        product_id=product_id, quantity=quantity, idempotency_key=idempotency_key
    )
    return clients.inventory.call("Restock", request)


def status_of(method: str, request) -> tuple[grpc.StatusCode, str]:
    """A failing call made with the bare stub: its status code and its ErrorInfo reason."""
    stub = inventory_pb2_grpc.InventoryServiceStub(clients.inventory.channel())
    with pytest.raises(grpc.RpcError) as raised:
        getattr(stub, method)(request, timeout=5)
    info = error_details_pb2.ErrorInfo()
    assert rpc_status.from_call(raised.value).details[0].Unpack(info)
    return raised.value.code(), info.reason


def test_the_server_reports_serving_on_the_health_service(inventory_server):
    clients.inventory.check()
    stub = health_pb2_grpc.HealthStub(clients.inventory.channel())
    answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


# --- GetAvailability -------------------------------------------------------------------------
def test_availability_answers_in_the_order_asked_each_once_unknown_products_at_zero():
    stock_level(1, 5)
    stock_level(2, 0)

    assert availability(2, 999, 1, 2, -1) == [(2, 0), (999, 0), (1, 5), (-1, 0)]


def test_availability_of_too_many_products_at_once_is_refused():
    with pytest.raises(ValidationFailed) as raised:
        availability(*range(1, 1002))

    assert raised.value.fields == {"product_ids": ["At most 1000 products per call."]}


# --- Restock ---------------------------------------------------------------------------------
def test_restock_adds_to_the_stock_and_answers_the_new_level():
    stock_level(7, 3)

    assert restock(7, 10) == inventory_pb2.StockLevel(product_id=7, available=13, stocked=True)
    assert stock_of(7) == 13


def test_restock_of_a_product_without_stock_creates_its_level():
    assert restock(8, 4) == inventory_pb2.StockLevel(product_id=8, available=4, stocked=True)
    assert stock_of(8) == 4


def test_restock_twice_with_one_key_adds_once_and_answers_the_current_level():
    stock_level(7, 3)
    assert restock(7, 10, "req-1").available == 13
    reserve("r-1", [(7, 2)])

    again = restock(7, 10, "req-1")

    assert again == inventory_pb2.StockLevel(product_id=7, available=11, stocked=True)
    assert stock_of(7) == 11
    assert RestockRecord.objects.count() == 1


def test_restock_without_a_key_is_not_idempotent():
    restock(7, 10)
    restock(7, 10)

    assert stock_of(7) == 20
    assert not RestockRecord.objects.exists()


def test_a_restock_key_reused_for_another_restock_is_refused_and_adds_nothing():
    restock(7, 10, "req-1")

    with pytest.raises(IdempotencyKeyReused) as raised:
        restock(7, 11, "req-1")

    assert raised.value.message == "This idempotency key was already used for another restock."
    with pytest.raises(IdempotencyKeyReused):
        restock(8, 10, "req-1")
    assert stock_of(7) == 10
    assert not StockLevel.objects.filter(product_id=8).exists()


@pytest.mark.parametrize("quantity", [0, -1, 100_001])
def test_restock_quantity_out_of_range_is_refused(quantity):
    with pytest.raises(ValidationFailed) as raised:
        restock(7, quantity)

    assert raised.value.fields == {"quantity": ["Must be between 1 and 100000."]}
    assert not StockLevel.objects.exists()


def test_restock_of_the_largest_quantity_is_taken():
    assert restock(7, 100_000).available == 100_000


def test_a_refused_restock_travels_as_invalid_argument():
    request = inventory_pb2.RestockRequest(product_id=7, quantity=0)

    assert status_of("Restock", request) == (grpc.StatusCode.INVALID_ARGUMENT, "validation_error")


# --- Reserve ---------------------------------------------------------------------------------
def test_reserve_holds_every_line_and_takes_the_units_off_the_stock():
    stock_level(1, 10)
    stock_level(2, 5)
    before = timezone.now()

    reservation = reserve("r-1", [(2, 1), (1, 3), (2, 2)])

    assert reservation.reservation_id == "r-1"
    assert reservation.status == HELD
    assert lines_of(reservation) == [(1, 3), (2, 3)]  # summed, in product order
    expires_at = reservation.expires_at.ToDatetime(tzinfo=UTC)
    assert before + timedelta(seconds=900) <= expires_at <= timezone.now() + timedelta(seconds=900)
    assert (stock_of(1), stock_of(2)) == (7, 2)


def test_reserve_holds_for_the_seconds_asked():
    stock_level(1, 10)
    before = timezone.now()

    reservation = reserve("r-1", [(1, 1)], hold_seconds=60)

    expires_at = reservation.expires_at.ToDatetime(tzinfo=UTC)
    assert before + timedelta(seconds=60) <= expires_at <= timezone.now() + timedelta(seconds=60)


def test_reserve_with_a_short_line_holds_nothing_and_lists_every_shortage():
    stock_level(1, 10)
    stock_level(2, 1)

    with pytest.raises(OutOfStock) as raised:
        reserve("r-1", [(1, 3), (2, 2), (3, 1)])

    assert raised.value.details == {
        "shortages": [
            {"product_id": 2, "requested": 2, "available": 1},
            {"product_id": 3, "requested": 1, "available": 0},
        ]
    }
    assert (stock_of(1), stock_of(2)) == (10, 1)
    assert not Reservation.objects.exists()


def test_out_of_stock_travels_as_failed_precondition_with_its_reason():
    stock_level(1, 1)
    request = inventory_pb2.ReserveRequest(
        reservation_id="r-1", lines=[inventory_pb2.ReservationLine(product_id=1, quantity=2)]
    )

    assert status_of("Reserve", request) == (grpc.StatusCode.FAILED_PRECONDITION, "out_of_stock")


def test_reserve_refused_for_stock_may_be_sent_again_once_there_is_stock():
    stock_level(1, 1)
    with pytest.raises(OutOfStock):
        reserve("r-1", [(1, 2)])
    restock(1, 1)

    assert reserve("r-1", [(1, 2)]).status == HELD
    assert stock_of(1) == 0


def test_reserve_sent_twice_holds_once_and_answers_the_same():
    stock_level(1, 10)
    first = reserve("r-1", [(1, 3)])

    second = reserve("r-1", [(1, 3)])

    assert second == first
    assert stock_of(1) == 7
    assert Reservation.objects.count() == 1


def test_reserve_sent_again_after_the_commit_answers_the_committed_reservation():
    stock_level(1, 10)
    reserve("r-1", [(1, 3)])
    commit("r-1")

    again = reserve("r-1", [(1, 3)])

    assert (again.status, lines_of(again)) == (COMMITTED, [(1, 3)])
    assert stock_of(1) == 7


def test_a_reservation_id_reused_for_other_lines_is_refused():
    stock_level(1, 10)
    reserve("r-1", [(1, 3)])

    with pytest.raises(ValidationFailed) as raised:
        reserve("r-1", [(1, 4)])

    assert raised.value.fields == {
        "reservation_id": ["Already used for a reservation of other lines."]
    }
    assert stock_of(1) == 7


@pytest.mark.parametrize(
    ("reservation_id", "lines", "hold_seconds", "fields"),
    [
        ("r-1", [], 0, {"lines": ["A reservation needs at least one line."]}),
        ("r-1", [(1, 0)], 0, {"lines": ["Each quantity must be at least 1."]}),
        ("r-1", [(0, 1)], 0, {"lines": ["0 is not a product id."]}),
        ("", [(1, 1)], 0, {"reservation_id": ["Must be 1 to 128 characters."]}),
        ("r" * 129, [(1, 1)], 0, {"reservation_id": ["Must be 1 to 128 characters."]}),
        ("r-1", [(1, 1)], -1, {"hold_seconds": ["Must be between 1 and 86400 (0: the default)."]}),
    ],
)
def test_a_malformed_reserve_is_refused_and_holds_nothing(
    reservation_id, lines, hold_seconds, fields
):
    stock_level(1, 10)

    with pytest.raises(ValidationFailed) as raised:
        reserve(reservation_id, lines, hold_seconds)

    assert raised.value.fields == fields
    assert stock_of(1) == 10
    assert not Reservation.objects.exists()


# --- Commit ----------------------------------------------------------------------------------
def test_commit_turns_a_held_reservation_into_a_sale_and_the_stock_stays_taken():
    stock_level(1, 10)
    held = reserve("r-1", [(1, 3)])

    committed = commit("r-1")

    assert committed.status == COMMITTED
    assert (lines_of(committed), committed.expires_at) == (lines_of(held), held.expires_at)
    assert stock_of(1) == 7


def test_commit_sent_twice_answers_the_same():
    stock_level(1, 10)
    reserve("r-1", [(1, 3)])

    assert commit("r-1") == commit("r-1")
    assert stock_of(1) == 7


def test_commit_of_an_unknown_reservation_is_not_found():
    with pytest.raises(NotFound) as raised:
        commit("nobody")

    assert raised.value.message == "No reservation nobody."
    request = inventory_pb2.CommitRequest(reservation_id="nobody")
    assert status_of("Commit", request) == (grpc.StatusCode.NOT_FOUND, "not_found")


def test_commit_of_a_released_reservation_is_an_invalid_state():
    stock_level(1, 10)
    reserve("r-1", [(1, 3)])
    release("r-1")

    with pytest.raises(InvalidState) as raised:
        commit("r-1")

    assert raised.value.message == "Reservation r-1 was released."
    request = inventory_pb2.CommitRequest(reservation_id="r-1")
    assert status_of("Commit", request) == (grpc.StatusCode.FAILED_PRECONDITION, "invalid_state")
    assert stock_of(1) == 10


def test_commit_of_an_expired_reservation_is_refused_and_gives_its_stock_back():
    stock_level(1, 10)
    reserve("r-1", [(1, 3)])
    Reservation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))  # the clock

    with pytest.raises(InvalidState) as raised:
        commit("r-1")

    assert "expired" in raised.value.message
    assert Reservation.objects.get().status == Reservation.Status.RELEASED
    assert stock_of(1) == 10
    assert release("r-1").status == RELEASED


# --- Release ---------------------------------------------------------------------------------
def test_release_of_a_held_reservation_gives_the_stock_back():
    stock_level(1, 10)
    reserve("r-1", [(1, 3)])

    released = release("r-1")

    assert (released.status, lines_of(released)) == (RELEASED, [(1, 3)])
    assert stock_of(1) == 10


def test_release_sent_twice_gives_the_stock_back_once():
    stock_level(1, 10)
    reserve("r-1", [(1, 3)])

    assert release("r-1") == release("r-1")
    assert stock_of(1) == 10


def test_release_of_a_committed_reservation_returns_it_once():
    stock_level(1, 10)
    reserve("r-1", [(1, 3)])
    commit("r-1")

    returned = release("r-1")

    assert (returned.status, lines_of(returned)) == (RETURNED, [(1, 3)])
    assert release("r-1") == returned
    assert stock_of(1) == 10
    with pytest.raises(InvalidState):
        commit("r-1")


def test_release_of_an_unknown_id_answers_released_and_leaves_a_tombstone():
    stock_level(1, 10)

    released = release("r-late")

    assert released == inventory_pb2.Reservation(reservation_id="r-late", status=RELEASED)
    assert not released.HasField("expires_at")
    assert Reservation.objects.get().status == Reservation.Status.RELEASED
    assert stock_of(1) == 10


def test_a_reserve_arriving_after_its_release_holds_nothing():
    # The saga timed out on Reserve and compensated with Release; then the Reserve arrived.
    stock_level(1, 10)
    release("r-late")

    late = reserve("r-late", [(1, 3)])

    assert late == inventory_pb2.Reservation(reservation_id="r-late", status=RELEASED)
    assert stock_of(1) == 10
    with pytest.raises(InvalidState):
        commit("r-late")
    assert release("r-late") == late
    assert stock_of(1) == 10
