"""Fixtures of the inventory service's tests: stock rows, and the service on an in-process
gRPC server that `chassis.clients.inventory` (the client the orders service and the gateway
use) is pointed at, so every call crosses a real channel and errors come back decoded."""

from collections.abc import Iterator

import pytest
from chassis import clients
from chassis.testing import django_db_modify_db_settings, serving  # noqa: F401 (a fixture)
from shop.inventory.v1 import inventory_pb2

from inventory.grpc_api import register
from inventory.models import StockLevel


@pytest.fixture
def inventory_server(settings) -> Iterator[str]:
    """The service on a free port, and clients.inventory pointed at it; yields the target.

    Calls are served by the server's worker threads, on connections of their own, which see
    only committed rows: hence `django_db(transaction=True)` in the tests that use this. With
    CONN_MAX_AGE at 0 a worker closes its connection when its call ends, so the test database
    can be flushed (and dropped at the end) with no worker still attached to it.
    """
    with serving(register, service="inventory", settings=settings) as target:
        yield target


def stock_level(product_id: int, available: int) -> StockLevel:
    return StockLevel.objects.create(product_id=product_id, available=available)


def stock_of(product_id: int) -> int:
    return StockLevel.objects.get(product_id=product_id).available


def reserve(
    reservation_id: str, lines: list[tuple[int, int]], hold_seconds: int = 0
) -> inventory_pb2.Reservation:
    request = inventory_pb2.ReserveRequest(
        reservation_id=reservation_id,
        lines=[
            inventory_pb2.ReservationLine(product_id=product_id, quantity=quantity)
            for product_id, quantity in lines
        ],
        hold_seconds=hold_seconds,
    )
    return clients.inventory.call("Reserve", request)


def commit(reservation_id: str) -> inventory_pb2.Reservation:
    request = inventory_pb2.CommitRequest(reservation_id=reservation_id)
    return clients.inventory.call("Commit", request)


def release(reservation_id: str) -> inventory_pb2.Reservation:
    request = inventory_pb2.ReleaseRequest(reservation_id=reservation_id)
    return clients.inventory.call("Release", request)


def lines_of(reservation: inventory_pb2.Reservation) -> list[tuple[int, int]]:
    return [(line.product_id, line.quantity) for line in reservation.lines]
