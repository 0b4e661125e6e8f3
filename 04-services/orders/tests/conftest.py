"""Fixtures of the orders service's tests: the service on an in-process gRPC server, the fake
catalog, inventory and payments it calls (tests/fakes.py), and small factories.

Every call crosses a real channel: the tests call the service through `chassis.clients.orders`
(the gateway's client), so errors arrive decoded as the gateway gets them, and the service
calls the fakes through the chassis clients it uses in production.
"""

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from chassis import clients
from chassis.models import OutboxMessage
from chassis.testing import django_db_modify_db_settings, running_server, serving  # noqa: F401 (a fixture)
from django.conf import settings
from django.db import connections
from shop.orders.v1 import orders_pb2

from orders.grpc_api import register
from orders.models import Cart, CartItem, CheckoutSaga, Order

from .fakes import Fakes

CALL_TIMEOUT = 10.0  # seconds: room for the saga's own calls and their retries


@pytest.fixture
def fakes(monkeypatch) -> Iterator[Fakes]:
    """Fake catalog, inventory and payments on one in-process server, and the chassis's
    clients pointed at it."""
    fakes = Fakes()
    with running_server(fakes.register) as target:
        for service in ("catalog", "inventory", "payments"):
            monkeypatch.setitem(settings.SHOP_GRPC_TARGETS, service, target)
        yield fakes


@pytest.fixture
def orders_server(fakes, settings) -> Iterator[str]:
    """The orders service on a free port, and clients.orders pointed at it.

    The servicer runs in the server's threads, each with its own database connection: tests
    using this need `django_db(transaction=True)` to share data with them (chassis.testing's
    `serving` closes those connections after every call, so none outlives the test).
    """
    with serving(register, service="orders", settings=settings) as target:
        yield target


def call(method: str, request):
    """One call to the orders service through the gateway's client."""
    return clients.orders.call(method, request, timeout=CALL_TIMEOUT)


def make_cart(quantities: dict[int, int] | None = None) -> uuid.UUID:
    """An open cart holding {product_id: quantity}, written straight to the database."""
    cart = Cart.objects.create()
    CartItem.objects.bulk_create(
        CartItem(cart=cart, product_id=product_id, quantity=quantity)
        for product_id, quantity in (quantities or {}).items()
    )
    return cart.id


def checkout_request(
    cart_id: uuid.UUID,
    *,
    email: str = "buyer@example.com",
    payment_token: str = "tok_visa",
    idempotency_key: str = "",
) -> orders_pb2.PlaceOrderRequest:
    return orders_pb2.PlaceOrderRequest(
        cart_id=str(cart_id),
        email=email,
        payment_token=payment_token,
        idempotency_key=idempotency_key,
    )


def place_order(cart_id: uuid.UUID, **fields) -> orders_pb2.PlaceOrderResponse:
    return call("PlaceOrder", checkout_request(cart_id, **fields))


def saga_of(order_id) -> CheckoutSaga:
    return CheckoutSaga.objects.select_related("order").get(order_id=order_id)


def only_order() -> Order:
    """The one order the test made (whatever became of it)."""
    (order,) = Order.objects.all()
    return order


def events(event_type: str) -> list[dict]:
    return [
        message.payload
        for message in OutboxMessage.objects.filter(event_type=event_type).order_by("id")
    ]


def wait_until(condition: Callable[[], bool], *, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.01)


class InThread(threading.Thread):
    """Run a call in a thread; `result()` joins and returns what it returned or raises
    what it raised."""

    def __init__(self, function: Callable, *args, **kwargs) -> None:
        super().__init__(daemon=True)
        self._call = (function, args, kwargs)
        self._outcome: tuple[bool, object] | None = None

    def run(self) -> None:
        function, args, kwargs = self._call
        try:
            self._outcome = (True, function(*args, **kwargs))
        except BaseException as error:  # handed to the test thread by result()
            self._outcome = (False, error)
        finally:
            connections.close_all()  # this thread's own, if it used the database

    def result(self, timeout: float = CALL_TIMEOUT):
        self.join(timeout)
        assert self._outcome is not None, "the call did not finish in time"
        succeeded, value = self._outcome
        if not succeeded:
            raise value
        return value


@pytest.fixture(autouse=True)
def orchestrated_cancellation(settings) -> None:
    """The tests of a cancellation test the orchestrated one unless they say otherwise
    (tests/test_choreography.py), whatever SHOP_CANCELLATION the run has: `make test` with
    SHOP_CANCELLATION=choreographed runs the stage that way, and these tests the same."""
    settings.SHOP_CANCELLATION = "orchestrated"
