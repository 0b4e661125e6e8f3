"""A cancellation by choreography (orders/choreography.py), end to end: the inventory and the
payments services run as the Procfile runs them (`serve_grpc --consume-events
--relay-outbox`, real processes with databases of their own), the orders service's consumer
and relay in threads of this test, all through the configured broker (files in embedded
mode, RabbitMQ in real mode). The order is placed for real: its stock reserved and committed
at the inventory, its charge approved at the payments service.

What must hold: the order ends cancelled with its stock back and its charge refunded once;
an event delivered twice changes nothing; a consumer that is down when the cancellation is
asked for finds the event waiting when it comes back, and the cancellation completes.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from chassis import clients, relay
from chassis.broker_testing import remove_namespace_from_the_broker
from chassis.consumer import consume_in_background
from chassis.errors import ServiceUnavailable
from chassis.models import OutboxMessage, ProcessedEvent
from django.conf import settings
from django.db import connections
from django.test import override_settings
from shop.inventory.v1 import inventory_pb2
from shop.payments.v1 import payments_pb2

from orders import choreography, orders, remote
from orders.models import Cancellation, CheckoutSaga, Order, OrderLine

from .conftest import events, wait_until

STAGE_DIR = Path(__file__).resolve().parents[2]
GENERATED_PROTOS = STAGE_DIR.parent / "proto" / "_generated"
PRODUCT, UNITS = 1, 2

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Peer:
    """Another service of the stage, as a process of its own: its database a SQLite file of
    this test (made by its release: migrations and seed), its gRPC server on a free port."""

    def __init__(self, service: str, folder: Path, *flags: str):
        self.service, self.flags, self.folder = service, flags, folder
        self.address = f"127.0.0.1:{free_port()}"
        tls = bool(settings.SHOP_GRPC_TLS_DIR)  # as this test's clients speak
        path = [str(STAGE_DIR), str(GENERATED_PROTOS), os.environ.get("PYTHONPATH", "")]
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(part for part in path if part),
            "PYTHONUNBUFFERED": "1",
            f"{service.upper()}_DATABASE_URL": f"sqlite:///{folder / f'{service}.sqlite3'}",
            "SHOP_VAR_DIR": str(settings.VAR_DIR),  # the same broker folder in embedded mode
            "SHOP_BROKER_NAMESPACE": settings.SHOP_BROKER_NAMESPACE,
            "SHOP_GRPC_TLS": "on" if tls else "off",
            "SHOP_GRPC_TLS_DIR": settings.SHOP_GRPC_TLS_DIR,
        }
        self.log = folder / f"{service}.log"
        self.popen: subprocess.Popen | None = None

    def provision(self) -> None:
        subprocess.run(
            [sys.executable, "-m", self.service, "provision"],
            cwd=STAGE_DIR,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        log = self.log.open("a")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", self.service, "serve_grpc", "--address", self.address]
            + list(self.flags),
            cwd=STAGE_DIR,
            env={**self.env, "SHOP_METRICS_PORT": str(free_port())},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.wait_for("event=consumer_ready", count=self.output().count("event=consumer_ready") + 1)

    def kill(self) -> None:
        """SIGKILL: a crash, no goodbye."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def wait_for(self, text: str, *, count: int = 1, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.output().count(text) < count:
            assert self.popen.poll() is None, f"{self.service} exited:\n{self.output()[-3000:]}"
            assert time.monotonic() < deadline, (
                f"no {text!r} from {self.service} within {timeout} s:\n{self.output()[-3000:]}"
            )
            time.sleep(0.05)


@pytest.fixture(scope="module")
def events_namespace() -> Iterator[str]:
    """Exchange and queue names of this module's own (see notifications' conftest)."""
    namespace = f"shop-04-choreography-test-{uuid.uuid4().hex[:8]}"
    with override_settings(SHOP_BROKER_NAMESPACE=namespace):
        yield namespace
        remove_namespace_from_the_broker()


@pytest.fixture
def peers(events_namespace, tmp_path, settings) -> Iterator[dict[str, Peer]]:
    """The inventory and the payments services, released and serving, and the clients of
    this test pointed at them."""
    started = {
        service: Peer(service, tmp_path, "--consume-events", "--relay-outbox")
        for service in ("inventory", "payments")
    }
    try:
        for peer in started.values():
            peer.provision()
            peer.start()
            settings.SHOP_GRPC_TARGETS = {**settings.SHOP_GRPC_TARGETS, peer.service: peer.address}
        yield started
    finally:
        for peer in started.values():
            peer.stop()


@pytest.fixture
def orders_events(events_namespace) -> Iterator[None]:
    """The orders service's part: its consumer and its relay, in threads, as the Procfile's
    `orders --consume-events` and `orders-relay` run them."""
    stop = threading.Event()
    threads = [
        consume_in_background(consumer="orders", handler=choreography.handle, stop=stop),
        threading.Thread(target=relay_until, args=(stop,)),
    ]
    threads[1].start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        connections.close_all()


def relay_until(stop: threading.Event) -> None:
    try:
        relay.run(stop=stop, poll_interval=0.05)
    finally:
        connections.close_all()  # this thread's own: the test database can then be dropped


def confirmed_order() -> Order:
    """An order placed for real: 2 units reserved and committed, its charge approved; its
    saga confirmed, as sagas.go_forward leaves it."""
    order = Order.objects.create(
        cart_id=_cart(), email="ada@example.com", status=Order.Status.CONFIRMED, total_cents=2500
    )
    OrderLine.objects.create(
        order=order,
        product_id=PRODUCT,
        sku="KI-0001",
        name="Kettle",
        unit_price_cents=1250,
        quantity=UNITS,
    )
    saga = CheckoutSaga.objects.create(order=order, charge_key=f"charge-{order.id}")
    remote.reserve(saga, quantities={PRODUCT: UNITS})
    remote.commit(saga)
    charge = remote.create_charge(saga, amount_cents=order.total_cents, payment_token="tok_visa")
    assert charge.status == remote.APPROVED
    CheckoutSaga.objects.filter(pk=saga.pk).update(
        state=CheckoutSaga.State.CONFIRMED, step=CheckoutSaga.Step.DONE, charge_id=charge.charge_id
    )
    return order


def _cart():
    from orders.models import Cart

    return Cart.objects.create(status=Cart.Status.CHECKED_OUT).id


def available() -> int:
    request = inventory_pb2.GetAvailabilityRequest(product_ids=[PRODUCT])
    (level,) = clients.inventory.call("GetAvailability", request).levels
    return level.available


def charge_of(order: Order) -> payments_pb2.Charge:
    request = payments_pb2.GetChargeRequest(idempotency_key=f"charge-{order.id}")
    return clients.payments.call("GetCharge", request)


def test_a_cancellation_by_events_gives_the_stock_back_refunds_once_and_cancels(
    peers, orders_events, settings
):
    settings.SHOP_CANCELLATION = "choreographed"
    before = available()
    order = confirmed_order()
    assert available() == before - UNITS

    cancelled = orders.cancel(order_id=order.id)

    assert cancelled.status == "cancelled"
    assert available() == before
    assert charge_of(order).status == payments_pb2.Charge.REFUNDED
    saga = CheckoutSaga.objects.get(order=order)
    assert (saga.state, saga.step) == (CheckoutSaga.State.CANCELLED, CheckoutSaga.Step.DONE)
    cancellation = Cancellation.objects.get(order=order)
    assert cancellation.stock_released_at and cancellation.payment_refunded_at
    assert cancellation.completed_at is not None
    assert [event["data"]["order_id"] for event in events("order.cancelled")] == [str(order.id)]
    # Asked again: the same order, and no second request.
    assert orders.cancel(order_id=order.id).status == "cancelled"
    assert len(events("order.cancellation_requested")) == 1

    # The relay publishes the request again (it died before marking the row): every
    # consumer recognises the event, and nothing happens twice.
    OutboxMessage.objects.filter(event_type="order.cancellation_requested").update(
        published_at=None
    )
    for peer in peers.values():
        peer.wait_for("event=event_duplicate event_type=order.cancellation_requested")
    assert peers["payments"].output().count("event=charge_refunded") == 1
    assert peers["inventory"].output().count("event=cancellation_stock_released") == 1
    assert available() == before
    assert len(events("order.cancelled")) == 1


def test_a_consumer_down_during_the_cancellation_finishes_it_when_it_is_back(
    peers, orders_events, settings
):
    settings.SHOP_CANCELLATION = "choreographed"
    before = available()
    order = confirmed_order()
    peers["payments"].kill()
    settings.SHOP_GRPC_TIMEOUT = 0.5  # how long the request waits for the answers: 1.5 s

    with pytest.raises(ServiceUnavailable, match="under way"):
        orders.cancel(order_id=order.id)

    # The inventory answered; the payments service's event waits in its queue.
    wait_until(
        lambda: Cancellation.objects.filter(order=order, stock_released_at__isnull=False).exists()
    )
    cancellation = Cancellation.objects.get(order=order)
    assert cancellation.payment_refunded_at is None and cancellation.completed_at is None
    assert Order.objects.get(pk=order.pk).status == Order.Status.CONFIRMED
    assert available() == before

    peers["payments"].start()
    settings.SHOP_GRPC_TIMEOUT = 5.0

    assert orders.cancel(order_id=order.id).status == "cancelled"
    assert charge_of(order).status == payments_pb2.Charge.REFUNDED
    assert peers["payments"].output().count("event=charge_refunded") == 1
    assert len(events("order.cancelled")) == 1
    assert ProcessedEvent.objects.filter(consumer="orders").count() == 2
