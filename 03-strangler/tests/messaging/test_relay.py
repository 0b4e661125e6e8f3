"""The relay: publishes waiting events once, in order; a broker outage delays, never loses.

Most tests hand the relay a stand-in publisher (the broker is outside the unit); the last
ones go through the configured broker (RabbitMQ in real mode, files in embedded mode).
"""

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from kernel import broker
from messaging import relay
from messaging.models import OutboxMessage
from notifications import handlers as notifications_handlers
from ordering import api as ordering_api

from tests.brokers import first_message, received_on_a_test_queue


class RecordingPublisher:
    """Stands in for relay.Publisher: keeps what it was given; fails while `down`, or from
    its `fail_at`-th message on."""

    def __init__(self, *, down: bool = False, fail_at: int | None = None):
        self.published: list[dict] = []
        self.down = down
        self.fail_at = fail_at

    def publish(self, envelope: dict) -> None:
        if self.down or (self.fail_at is not None and len(self.published) + 1 >= self.fail_at):
            raise relay.BrokerUnavailable("ConnectionRefusedError: [Errno 111]")
        self.published.append(envelope)


@pytest.fixture
def three_events(make_product, make_order) -> list[str]:
    """Three events in the outbox: two orders confirmed, the first then cancelled."""
    first = make_order([(make_product(), 1)])
    make_order([(make_product(), 1)])
    ordering_api.cancel_order(order_id=first.id)
    return list(OutboxMessage.objects.order_by("id").values_list("event_type", flat=True))


def published_types(publisher: RecordingPublisher) -> list[str]:
    return [envelope["event_type"] for envelope in publisher.published]


def test_the_relay_publishes_every_waiting_event_once_in_order(three_events):
    publisher = RecordingPublisher()

    assert relay.publish_pending(publisher=publisher) == 3
    assert relay.publish_pending(publisher=publisher) == 0  # marked: not published again

    assert published_types(publisher) == three_events
    assert [envelope["event_id"] for envelope in publisher.published] == [
        str(event_id)
        for event_id in OutboxMessage.objects.order_by("id").values_list("event_id", flat=True)
    ]
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()


def test_events_wait_while_the_broker_is_down_and_all_go_out_when_it_is_back(three_events):
    with pytest.raises(relay.BrokerUnavailable):
        relay.publish_pending(publisher=RecordingPublisher(down=True))
    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 3

    back = RecordingPublisher()
    assert relay.publish_pending(publisher=back) == 3

    assert published_types(back) == three_events


def test_a_failure_mid_batch_keeps_what_went_out_and_the_order_of_the_rest(three_events):
    flaky = RecordingPublisher(fail_at=2)  # the first goes out, the second fails

    with pytest.raises(relay.BrokerUnavailable):
        relay.publish_pending(publisher=flaky)

    assert published_types(flaky) == three_events[:1]
    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 2
    later = RecordingPublisher()
    relay.publish_pending(publisher=later)
    assert published_types(later) == three_events[1:]  # the cancellation never came first


def test_the_relay_logs_each_published_event(three_events, caplog):
    caplog.set_level("INFO", logger="messaging.relay")

    relay.publish_pending(publisher=RecordingPublisher())

    assert caplog.text.count("event=outbox_published") == 3
    assert "event_type=order.cancelled" in caplog.text


# --- through the configured broker -----------------------------------------------------------
def test_an_unreachable_broker_is_reported_and_the_events_wait(three_events, settings):
    settings.BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens on port 1
    publisher = relay.Publisher()

    with pytest.raises(relay.BrokerUnavailable):
        relay.publish_pending(publisher=publisher)

    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 3


def test_the_broker_routes_each_event_to_a_queue_bound_to_its_type(three_events):
    with received_on_a_test_queue(["order.cancelled"]) as received:
        publisher = relay.Publisher()
        try:
            relay.publish_pending(publisher=publisher)
        finally:
            publisher.close()

        [cancelled] = received(count=1)
    assert cancelled["event_type"] == "order.cancelled"


def test_a_consumer_receives_each_orders_events_in_the_order_they_happened(
    make_product, make_order
):
    # Twenty orders, each confirmed then cancelled, all waiting: the relay publishes the 40
    # events back to back, many within one millisecond (what the file-system broker names
    # its files by).
    product = make_product(stock=20)
    for _ in range(20):
        ordering_api.cancel_order(order_id=make_order([(product, 1)]).id)

    with received_on_a_test_queue(["order.*"]) as received:
        publisher = relay.Publisher()
        try:
            assert relay.publish_pending(publisher=publisher) == 40
        finally:
            publisher.close()
        envelopes = received(count=40)

    seen: dict[str, list[str]] = {}
    for envelope in envelopes:
        seen.setdefault(envelope["aggregate_id"], []).append(envelope["event_type"])
    swapped = [
        order for order, types in seen.items() if types != ["order.confirmed", "order.cancelled"]
    ]
    assert swapped == [], f"{len(swapped)} of 20 orders had their events delivered out of order"


def test_an_event_published_before_its_consumer_ever_started_waits_for_it(
    make_product, make_order, settings
):
    # A namespace no consumer has ever declared a queue in: a broker fresh from install.
    settings.SHOP_BROKER_NAMESPACE = f"shop-03-test-fresh-{uuid.uuid4().hex[:8]}"
    order = make_order([(make_product(), 1)])
    publisher = relay.Publisher()
    try:
        assert relay.publish_pending(publisher=publisher) == 1
    finally:
        publisher.close()

    with broker.connection() as connection:
        waiting = notifications_handlers.queue()(connection.default_channel)
        try:
            message = first_message(waiting)
        finally:
            waiting.delete()
            broker.events_exchange()(connection.default_channel).delete()

    assert message is not None, "the event was dropped: no queue was bound when it went out"
    assert message.decode()["aggregate_id"] == str(order.id)


@pytest.mark.django_db(transaction=True)  # the relay's thread has its own connection
def test_the_relay_loop_publishes_and_stops_promptly_when_asked(make_product, make_order):
    assert settings.SHOP_BROKER_NAMESPACE.startswith("shop-03-test-")
    stop = threading.Event()
    with received_on_a_test_queue(["order.*"]) as received:

        def relay_in_a_thread() -> None:
            try:
                relay.run(stop=stop, poll_interval=0.05)
            finally:
                connection.close()  # the thread's own; an open one would keep the test database

        loop = threading.Thread(target=relay_in_a_thread)
        loop.start()
        try:
            order = make_order([(make_product(), 1)])
            [confirmed] = received(count=1)
        finally:
            asked = time.monotonic()
            stop.set()
            loop.join(timeout=5)

    assert not loop.is_alive()
    assert time.monotonic() - asked < 2
    assert confirmed["aggregate_id"] == str(order.id)
    assert OutboxMessage.objects.get().published_at is not None


# --- a bounded table -------------------------------------------------------------------------
def _age(days: float, *, published: bool) -> None:
    """Make every row `days` old, published then or never."""
    then = timezone.now() - timedelta(days=days)
    OutboxMessage.objects.update(created_at=then, published_at=then if published else None)


def test_published_rows_older_than_the_retention_are_deleted(
    three_events, make_product, make_order
):
    _age(8, published=True)
    recent = make_order([(make_product(), 1)])
    OutboxMessage.objects.filter(published_at__isnull=True).update(published_at=timezone.now())

    deleted = relay.prune_published(older_than=timedelta(days=7), batch_size=2)

    assert deleted == 3
    assert [row.aggregate_id for row in OutboxMessage.objects.all()] == [str(recent.id)]


def test_an_event_never_published_is_kept_however_old(three_events):
    _age(100, published=False)

    assert relay.prune_published(older_than=timedelta(days=7)) == 0
    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 3


@pytest.mark.django_db(transaction=True)  # the relay's thread has its own connection
def test_the_relay_loop_deletes_old_published_rows_as_it_runs(make_product, make_order):
    make_order([(make_product(), 1)])
    _age(settings.SHOP_OUTBOX_RETENTION_DAYS + 1, published=True)
    stop = threading.Event()

    def relay_in_a_thread() -> None:
        try:
            relay.run(stop=stop, poll_interval=0.05)
        finally:
            connection.close()

    loop = threading.Thread(target=relay_in_a_thread)
    loop.start()
    try:
        deadline = time.monotonic() + 5
        while OutboxMessage.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        loop.join(timeout=5)

    assert not OutboxMessage.objects.exists()
