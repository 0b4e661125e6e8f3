"""Dead letters, on the configured broker (RabbitMQ's dead-letter exchange in real mode, the
consumer's own publish on the file broker): a message that keeps failing leaves the queue
after `max_attempts`, the queue moves on, and `dead_letters` lists, shows and replays it."""

import json
import threading
import time

import pytest
from django.core.management import CommandError, call_command
from kombu import Queue

from chassis import broker, relay
from chassis.broker_testing import remove_from_the_broker
from chassis.consumer import EventConsumer, MalformedEvent

from .things import ThingHappened, record_in_one_transaction

CONSUMER = "thing-watcher"


@pytest.fixture
def watcher(settings, db):
    """A subscriber of its own, with thing.happened 0, 1 and 2 waiting in its queue."""
    settings.SHOP_EVENT_SUBSCRIPTIONS = {CONSUMER: ["thing.happened"]}
    record_in_one_transaction(*(ThingHappened(thing_id=n) for n in range(3)))
    publisher = relay.Publisher()
    try:
        assert relay.publish_pending(publisher=publisher) == 3
    finally:
        publisher.close()
    yield
    remove_from_the_broker([broker.subscribed_queue(CONSUMER)], broker.events_exchange())
    remove_from_the_broker([broker.dead_letter_queue(CONSUMER)], broker.dead_letter_exchange())


def consume(handler, *, until, max_attempts: int = 3) -> None:
    """Run the consumer loop on the watcher's queue until `until()` (at most 10 s)."""
    connection = broker.connection()
    consumer = EventConsumer(
        connection=connection,
        queue=broker.subscribed_queue(CONSUMER),
        handler=handler,
        retry_delay=0,
        max_attempts=max_attempts,
    )
    loop = threading.Thread(target=consumer.run)
    loop.start()
    deadline = time.monotonic() + 10
    while not until() and time.monotonic() < deadline:
        time.sleep(0.05)
    consumer.should_stop = True
    loop.join(timeout=5)
    connection.release()
    assert not loop.is_alive()


def dead_letter_ids(capsys) -> list[str]:
    call_command("dead_letters", "list", "--consumer", CONSUMER)
    lines = capsys.readouterr().out.splitlines()
    return [line.split()[0] for line in lines[:-1]]


def test_a_message_that_keeps_failing_is_dead_lettered_and_the_queue_moves_on(
    watcher, capsys, caplog
):
    attempts: list[int] = []
    handled: list[int] = []

    def handler(envelope):
        thing_id = envelope["data"]["thing_id"]
        if thing_id == 1:
            attempts.append(thing_id)
            raise ValueError("thing 1 cannot be handled")
        handled.append(thing_id)

    consume(handler, until=lambda: len(handled) == 2)

    assert handled == [0, 2]
    assert len(attempts) == 3  # max_attempts, then given up
    assert "event=event_dead_lettered event_type=thing.happened" in caplog.text
    [event_id] = dead_letter_ids(capsys)
    # Listing gives them back: still there.
    assert dead_letter_ids(capsys) == [event_id]

    call_command("dead_letters", "show", event_id, "--consumer", CONSUMER)
    shown = json.loads(capsys.readouterr().out)
    assert shown["body"]["data"] == {"thing_id": 1}
    assert shown["reason"]  # the consumer's words, or RabbitMQ's ("rejected")


def test_a_replayed_dead_letter_is_handled_once_it_can_be(watcher, capsys):
    handled: list[int] = []
    broken = True

    def handler(envelope):
        thing_id = envelope["data"]["thing_id"]
        if thing_id == 1 and broken:
            raise ValueError("not yet")
        handled.append(thing_id)

    consume(handler, until=lambda: len(handled) == 2, max_attempts=1)
    [event_id] = dead_letter_ids(capsys)

    broken = False
    call_command("dead_letters", "replay", event_id, "--consumer", CONSUMER)
    assert capsys.readouterr().out.startswith(f"replayed {event_id} thing.happened")
    consume(handler, until=lambda: len(handled) == 3)

    assert handled == [0, 2, 1]
    assert dead_letter_ids(capsys) == []
    with pytest.raises(CommandError, match="no dead letter"):
        call_command("dead_letters", "replay", event_id, "--consumer", CONSUMER)


def test_a_malformed_message_is_dead_lettered_at_once(watcher, capsys):
    calls: list[int] = []

    def handler(envelope):
        calls.append(envelope["data"]["thing_id"])
        if envelope["data"]["thing_id"] == 0:
            raise MalformedEvent("not a thing this consumer knows")

    consume(handler, until=lambda: len(calls) == 3)

    assert calls == [0, 1, 2]
    assert len(dead_letter_ids(capsys)) == 1


def test_a_database_outage_is_not_counted_against_the_message(watcher, capsys):
    from django.db import OperationalError

    outage = [4]  # the first four tries meet a database that is down
    handled: list[int] = []

    def handler(envelope):
        if outage[0]:
            outage[0] -= 1
            raise OperationalError("the database is restarting")
        handled.append(envelope["data"]["thing_id"])

    consume(handler, until=lambda: len(handled) == 3, max_attempts=2)

    assert handled == [0, 1, 2]
    assert dead_letter_ids(capsys) == []


def test_a_queue_declared_without_dead_letter_arguments_is_replaced_when_empty(settings):
    settings.SHOP_EVENT_SUBSCRIPTIONS = {CONSUMER: ["thing.happened"]}
    current = broker.subscribed_queue(CONSUMER)
    earlier = Queue(  # as the shop declared it before it had dead letters
        current.name, exchange=broker.events_exchange(), routing_key="thing.happened", durable=True
    )
    with broker.connection() as connection:
        earlier(connection.default_channel).declare()
        try:
            broker.declare_subscriptions(connection)  # RabbitMQ: PRECONDITION_FAILED, handled

            current(connection.channel()).declare()  # now declared with the arguments
        finally:
            remove_from_the_broker([current], broker.events_exchange())
            remove_from_the_broker(
                [broker.dead_letter_queue(CONSUMER)], broker.dead_letter_exchange()
            )
