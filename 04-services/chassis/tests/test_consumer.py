"""The consumer loop's promise: ack after handling, retry what failed, drop what never can.

Most tests hand the consumer a stand-in message (what it does with one is the unit); the last
one runs the loop on the configured broker (RabbitMQ in real mode, files in embedded mode).
"""

import threading

import pytest

from chassis import broker, relay
from chassis.broker_testing import first_message
from chassis.consumer import EventConsumer

from .things import ThingHappened, record_in_one_transaction


class FakeMessage:
    """Records what the consumer did with a message: ack or requeue."""

    def __init__(self):
        self.outcome: str | None = None
        self.headers: dict[str, str] = {}  # kombu's Message has them: the trace context

    def ack(self):
        self.outcome = "acked"

    def requeue(self):
        self.outcome = "requeued"


def consumer_with(handler) -> EventConsumer:
    return EventConsumer(connection=None, queue=None, handler=handler, retry_delay=0)


def test_a_handled_message_is_acked_after_its_handler_ran():
    seen_before_the_ack: list[str | None] = []
    message = FakeMessage()

    def handler(envelope):
        seen_before_the_ack.append(message.outcome)

    consumer_with(handler).on_message({"event_type": "thing.happened"}, message)

    assert seen_before_the_ack == [None]  # not acked while it ran: a crash there redelivers
    assert message.outcome == "acked"


def test_a_handler_failure_is_retried_in_place_until_it_passes(caplog):
    # Retried here, not requeued: a requeued message would queue up behind later events of
    # the same aggregate (and the file-system broker would copy it to every bound queue).
    calls: list[dict] = []

    def database_restarting(envelope):
        calls.append(envelope)
        if len(calls) < 3:
            raise ConnectionError("database restarting")

    message = FakeMessage()
    consumer_with(database_restarting).on_message({"event_type": "thing.happened"}, message)

    assert len(calls) == 3
    assert message.outcome == "acked"
    assert caplog.text.count("event=event_failed") == 2


def test_a_failing_message_goes_back_to_the_broker_when_the_consumer_stops(caplog):
    consumer = consumer_with(None)

    def down_while_stopping(envelope):
        consumer.should_stop = True
        raise ConnectionError("database down")

    consumer.handler = down_while_stopping
    message = FakeMessage()
    consumer.on_message({"event_type": "thing.happened"}, message)

    assert message.outcome == "requeued"
    assert "requeued=true" in caplog.text


# --- on the configured broker ----------------------------------------------------------------
@pytest.mark.django_db
def test_the_loop_handles_its_queues_events_in_order_and_acks_each(settings):
    # A subscriber of its own, declared by the relay as any subscriber is.
    settings.SHOP_EVENT_SUBSCRIPTIONS = {"thing-watcher": ["thing.happened"]}
    record_in_one_transaction(*(ThingHappened(thing_id=n) for n in range(5)))
    publisher = relay.Publisher()
    try:
        assert relay.publish_pending(publisher=publisher) == 5
    finally:
        publisher.close()

    handled: list[int] = []
    queue = broker.subscribed_queue("thing-watcher")
    consumer = EventConsumer(connection=broker.connection(), queue=queue, handler=None)

    def handler(envelope):
        handled.append(envelope["data"]["thing_id"])
        consumer.should_stop = len(handled) == 5

    consumer.handler = handler
    loop = threading.Thread(target=consumer.run)
    loop.start()
    loop.join(timeout=10)
    consumer.should_stop = True  # if it is still waiting for events that never came
    loop.join(timeout=5)
    consumer.connection.release()

    with broker.connection() as connection:
        bound = queue(connection.default_channel)
        try:
            # acked: nothing comes back once the consumer's connection is gone
            left = first_message(bound, timeout=0.3)
        finally:
            bound.delete()
    assert not loop.is_alive()
    assert handled == [0, 1, 2, 3, 4]
    assert left is None


def test_housekeeping_runs_at_once_then_once_per_interval(monkeypatch):
    from chassis import consumer as consumer_module

    now = [1000.0]
    monkeypatch.setattr(consumer_module.time, "monotonic", lambda: now[0])
    runs = []
    consumer = EventConsumer(
        connection=None,
        queue=None,
        handler=print,
        housekeeping=lambda: runs.append(now[0]),
        housekeeping_every=60,
    )

    for clock in (1000.0, 1001.0, 1059.0, 1060.0, 1070.0):
        now[0] = clock
        consumer.on_iteration()

    assert runs == [1000.0, 1060.0]


def test_a_failing_housekeeping_is_logged_and_does_not_stop_the_consumer(caplog):
    def broken():
        raise RuntimeError("database restarting")

    consumer = EventConsumer(connection=None, queue=None, handler=print, housekeeping=broken)

    consumer.on_iteration()

    assert "event=housekeeping_failed" in caplog.text
