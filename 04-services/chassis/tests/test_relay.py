"""The relay: publishes waiting events once, in order; a broker outage delays, never loses.

Most tests hand the relay a stand-in publisher (the broker is outside the unit); the others
go through the configured broker (RabbitMQ in real mode, files in embedded mode).
"""

import os
import signal
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from chassis import broker, relay
from chassis.broker_testing import first_message, received_on_a_test_queue, remove_from_the_broker
from chassis.models import OutboxMessage
from chassis.order_events import OrderCancelled, OrderConfirmed

from .things import ThingHappened, order_event, record_in_one_transaction

UNREACHABLE_BROKER = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens on port 1


class RecordingPublisher:
    """Stands in for relay.Publisher: keeps what it was given; refuses every message while
    `down`, and its `fail_at`-th attempt only (a blip: the attempt after it would pass)."""

    def __init__(self, *, down: bool = False, fail_at: int | None = None):
        self.published: list[dict] = []
        self.attempts = 0
        self.down = down
        self.fail_at = fail_at

    def publish(self, envelope: dict) -> None:
        self.attempts += 1
        if self.down or self.attempts == self.fail_at:
            raise relay.BrokerUnavailable("ConnectionRefusedError: [Errno 111]")
        self.published.append(envelope)


@pytest.fixture
def three_events(db) -> list[str]:
    """Three events in the outbox, each recorded by a transaction of its own: a thing
    happened, then an order was confirmed, then the same order cancelled."""
    order_id = uuid.uuid4()
    record_in_one_transaction(ThingHappened(thing_id=1))
    record_in_one_transaction(order_event(OrderConfirmed, order_id))
    record_in_one_transaction(order_event(OrderCancelled, order_id))
    return ["thing.happened", "order.confirmed", "order.cancelled"]


def published_types(publisher: RecordingPublisher) -> list[str]:
    return [envelope["event_type"] for envelope in publisher.published]


def waiting() -> int:
    return OutboxMessage.objects.filter(published_at__isnull=True).count()


def marked_published() -> list[str]:
    marked = OutboxMessage.objects.filter(published_at__isnull=False).order_by("id")
    return list(marked.values_list("event_type", flat=True))


def test_the_relay_publishes_every_waiting_event_once_in_order(three_events):
    publisher = RecordingPublisher()

    assert relay.publish_pending(publisher=publisher) == 3
    assert relay.publish_pending(publisher=publisher) == 0  # marked: not published again

    assert published_types(publisher) == three_events
    assert publisher.published == list(
        OutboxMessage.objects.order_by("id").values_list("payload", flat=True)
    )
    assert waiting() == 0


@pytest.mark.django_db
def test_an_empty_outbox_costs_the_relay_one_read(django_assert_num_queries):
    # The relay asks every 0.2 s: the idle case must not take SQLite's one write lock.
    with django_assert_num_queries(1):
        assert relay.publish_pending(publisher=RecordingPublisher()) == 0


def test_a_batch_publishes_at_most_its_size_oldest_first(three_events):
    publisher = RecordingPublisher()

    assert relay.publish_pending(publisher=publisher, batch_size=2) == 2
    assert waiting() == 1
    assert relay.publish_pending(publisher=publisher, batch_size=2) == 1

    assert published_types(publisher) == three_events


def test_events_wait_while_the_broker_is_down_and_all_go_out_when_it_is_back(three_events):
    with pytest.raises(relay.BrokerUnavailable):
        relay.publish_pending(publisher=RecordingPublisher(down=True))
    assert waiting() == 3

    back = RecordingPublisher()
    assert relay.publish_pending(publisher=back) == 3

    assert published_types(back) == three_events


def test_a_failure_mid_batch_keeps_what_went_out_and_the_order_of_the_rest(three_events):
    flaky = RecordingPublisher(fail_at=2)  # the first goes out, the second fails

    with pytest.raises(relay.BrokerUnavailable):
        relay.publish_pending(publisher=flaky)

    # the batch stopped there: the third, which the broker would have taken, waits its turn
    assert flaky.attempts == 2
    assert published_types(flaky) == three_events[:1]
    assert marked_published() == three_events[:1]
    later = RecordingPublisher()
    assert relay.publish_pending(publisher=later) == 2
    assert published_types(later) == three_events[1:]  # the cancellation never came first


def test_the_relay_logs_each_published_event(three_events, caplog):
    caplog.set_level("INFO", logger="chassis.relay")

    relay.publish_pending(publisher=RecordingPublisher())

    assert caplog.text.count("event=outbox_published") == 3
    assert "event_type=order.cancelled" in caplog.text


class SlowPublisher:
    """Stands in for the broker, slowly enough that two relays would interleave if they could."""

    def __init__(self):
        self.published: list[str] = []

    def publish(self, envelope: dict) -> None:
        time.sleep(0.02)
        self.published.append(envelope["event_id"])


@pytest.mark.django_db(transaction=True)  # each relay thread commits on its own connection
def test_two_relays_at_once_publish_each_event_once_and_in_order():
    # On PostgreSQL the second relay skips the rows the first holds (SKIP LOCKED) and stands
    # by while older rows are in flight; on SQLite the two take turns. Small batches make
    # them meet many times.
    for n in range(6):
        record_in_one_transaction(ThingHappened(thing_id=n))
    publisher = SlowPublisher()
    start = threading.Barrier(2)
    failures: list[Exception] = []

    def relay_until_empty() -> None:
        try:
            start.wait(timeout=10)
            while OutboxMessage.objects.filter(published_at__isnull=True).exists():
                relay.publish_pending(publisher=publisher, batch_size=2)
        except Exception as error:  # kept, for the test to assert on
            failures.append(error)
        finally:
            connection.close()  # the thread's own: the test database is flushed after

    relays = [threading.Thread(target=relay_until_empty) for _ in range(2)]
    for thread in relays:
        thread.start()
    for thread in relays:
        thread.join(timeout=30)

    assert not any(thread.is_alive() for thread in relays), "a relay is stuck"
    assert failures == []
    recorded = [
        str(event_id) for event_id in OutboxMessage.objects.values_list("event_id", flat=True)
    ]
    assert publisher.published == recorded


# --- through the configured broker -----------------------------------------------------------
def test_an_unreachable_broker_is_reported_and_the_events_wait(three_events, settings):
    settings.BROKER_URL = UNREACHABLE_BROKER
    publisher = relay.Publisher()

    with pytest.raises(relay.BrokerUnavailable):
        relay.publish_pending(publisher=publisher)

    assert waiting() == 3


def test_the_broker_routes_each_event_to_a_queue_bound_to_its_type(three_events):
    with received_on_a_test_queue(["order.cancelled"]) as received:
        publisher = relay.Publisher()
        try:
            relay.publish_pending(publisher=publisher)
        finally:
            publisher.close()

        [cancelled] = received(count=1)
    assert cancelled["event_type"] == "order.cancelled"


@pytest.mark.django_db
def test_a_consumer_receives_the_events_in_the_order_they_were_recorded():
    # Forty events waiting: the relay publishes them back to back, many within one
    # millisecond (what the file-system broker names its files by).
    record_in_one_transaction(*(ThingHappened(thing_id=n) for n in range(40)))

    with received_on_a_test_queue(["thing.happened"]) as received:
        publisher = relay.Publisher()
        try:
            assert relay.publish_pending(publisher=publisher) == 40
        finally:
            publisher.close()
        envelopes = received(count=40)

    assert [envelope["data"]["thing_id"] for envelope in envelopes] == list(range(40))


@pytest.mark.django_db
def test_an_event_published_before_its_consumer_ever_started_waits_for_it(settings):
    # A namespace no consumer has ever declared a queue in: a broker fresh from install.
    # Notifications subscribes to order.confirmed (settings.SHOP_EVENT_SUBSCRIPTIONS).
    settings.SHOP_BROKER_NAMESPACE = f"shop-04-chassis-test-fresh-{uuid.uuid4().hex[:8]}"
    confirmed = order_event(OrderConfirmed, uuid.uuid4())
    record_in_one_transaction(confirmed)
    notifications = broker.subscribed_queue("notifications")
    publisher = relay.Publisher()
    try:
        assert relay.publish_pending(publisher=publisher) == 1
        with broker.connection() as connection:
            message = first_message(notifications(connection.default_channel))
    finally:
        publisher.close()
        remove_from_the_broker([notifications], broker.events_exchange())

    assert message is not None, "the event was dropped: no queue was bound when it went out"
    assert message.decode() == confirmed.envelope()


# --- the relay process -----------------------------------------------------------------------
def relay_in_a_thread(stop: threading.Event) -> threading.Thread:
    def relay_until_stopped() -> None:
        try:
            relay.run(stop=stop, poll_interval=0.05)
        finally:
            connection.close()  # the thread's own; an open one would keep the test database

    loop = threading.Thread(target=relay_until_stopped)
    loop.start()
    return loop


@pytest.mark.django_db(transaction=True)  # the relay's thread has its own connection
def test_the_relay_loop_publishes_and_stops_promptly_when_asked():
    stop = threading.Event()
    with received_on_a_test_queue(["thing.happened"]) as received:
        loop = relay_in_a_thread(stop)
        try:
            record_in_one_transaction(ThingHappened(thing_id=42))
            [happened] = received(count=1)
        finally:
            asked = time.monotonic()
            stop.set()
            loop.join(timeout=5)

    assert not loop.is_alive()
    assert time.monotonic() - asked < 2
    assert happened["aggregate_id"] == "42"
    assert OutboxMessage.objects.get().published_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_relay_loop_outlasts_a_broker_outage(settings, caplog):
    caplog.set_level("WARNING", logger="chassis.relay")
    record_in_one_transaction(ThingHappened(thing_id=1))
    stop = threading.Event()
    with received_on_a_test_queue(["thing.happened"]) as received:
        working_broker = settings.BROKER_URL
        settings.BROKER_URL = UNREACHABLE_BROKER  # the broker goes down
        loop = relay_in_a_thread(stop)
        try:
            deadline = time.monotonic() + 5
            while "event=outbox_publish_failed" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.01)
            assert waiting() == 1
            settings.BROKER_URL = working_broker  # the broker is back
            [happened] = received(count=1)
        finally:
            stop.set()
            loop.join(timeout=5)

    assert not loop.is_alive()
    assert "event=outbox_publish_failed" in caplog.text
    assert happened["aggregate_id"] == "1"
    assert waiting() == 0


@pytest.fixture
def signal_handlers():
    """The command installs handlers for SIGTERM and SIGINT: put pytest's back afterwards."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.django_db
def test_the_relay_command_publishes_until_sigterm(signal_handlers):
    record_in_one_transaction(ThingHappened(thing_id=7))
    outcome: dict[str, object] = {}

    with received_on_a_test_queue(["thing.happened"]) as received:

        def receive_then_terminate() -> None:
            try:
                outcome["received"] = received(count=1)
            except AssertionError as error:
                outcome["error"] = error
            finally:
                outcome["asked"] = time.monotonic()
                os.kill(os.getpid(), signal.SIGTERM)  # what honcho sends

        watcher = threading.Thread(target=receive_then_terminate)
        watcher.start()
        try:
            call_command("relay_outbox", poll_interval=0.05)  # returns once SIGTERM stopped it
        finally:
            stopped = time.monotonic()
            watcher.join(timeout=15)  # its SIGTERM must not outlive the command's handlers

    assert "error" not in outcome, outcome.get("error")
    assert [envelope["aggregate_id"] for envelope in outcome["received"]] == ["7"]
    assert stopped - outcome["asked"] < 2
    assert waiting() == 0


# --- a bounded table -------------------------------------------------------------------------
def _age(days: float, *, published: bool) -> None:
    """Make every row `days` old, published then or never."""
    then = timezone.now() - timedelta(days=days)
    OutboxMessage.objects.update(created_at=then, published_at=then if published else None)


def test_published_rows_older_than_the_retention_are_deleted(three_events):
    _age(8, published=True)
    record_in_one_transaction(ThingHappened(thing_id=4))
    OutboxMessage.objects.filter(published_at__isnull=True).update(published_at=timezone.now())

    deleted = relay.prune_published(older_than=timedelta(days=7), batch_size=2)

    assert deleted == 3
    assert [row.aggregate_id for row in OutboxMessage.objects.all()] == ["4"]  # recent: kept


def test_an_event_never_published_is_kept_however_old(three_events):
    _age(100, published=False)

    assert relay.prune_published(older_than=timedelta(days=7)) == 0
    assert waiting() == 3


@pytest.mark.django_db(transaction=True)
def test_the_relay_loop_deletes_old_published_rows_as_it_runs(settings):
    settings.SHOP_OUTBOX_RETENTION_DAYS = 7
    record_in_one_transaction(ThingHappened(thing_id=1))
    _age(8, published=True)
    stop = threading.Event()
    loop = relay_in_a_thread(stop)
    try:
        deadline = time.monotonic() + 5
        while OutboxMessage.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        loop.join(timeout=5)

    assert not OutboxMessage.objects.exists()
