"""Test helpers for the configured broker (RabbitMQ in real mode, files in embedded mode), for
the chassis's tests and every service's: a throw-away queue bound to the test run's exchange,
and the clean-up of the durable names a test run made."""

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from kombu import Exchange, Queue

from chassis import broker


@contextmanager
def received_on_a_test_queue(routing_keys: list[str]) -> Iterator[Callable[..., list[dict]]]:
    """Declare a queue of its own, bound to `routing_keys`; yield `received(count)`, which
    waits (up to 10 s) for that many messages, checks that no other is waiting, and returns
    their bodies. The queue is deleted afterwards."""
    with broker.connection() as connection:
        queue = broker.consumer_queue(f"probe-{uuid.uuid4().hex[:8]}", routing_keys)
        bound = queue(connection.default_channel)
        bound.declare()

        def received(count: int, timeout: float = 10.0) -> list[dict]:
            bodies: list[dict] = []
            deadline = time.monotonic() + timeout
            while len(bodies) < count and time.monotonic() < deadline:
                message = bound.get(no_ack=True)
                if message is None:
                    time.sleep(0.05)
                else:
                    bodies.append(message.decode())
            assert len(bodies) == count, f"{len(bodies)} of {count} messages within {timeout} s"
            extra = bound.get(no_ack=True)
            assert extra is None, f"more than {count} messages: also {extra.decode()}"
            return bodies

        try:
            yield received
        finally:
            bound.purge()
            bound.delete()


def first_message(queue, timeout: float = 10.0):
    """The first message on the bound `queue` (acknowledged), or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = queue.get(no_ack=True)
        if message is not None:
            return message
        time.sleep(0.05)
    return None


def remove_from_the_broker(queues: Iterable[Queue], exchange: Exchange) -> None:
    """Delete durable queues and their exchange, which would otherwise outlive the test run."""
    with broker.connection() as connection:
        channel = connection.default_channel
        for queue in queues:
            bound = queue(channel)
            bound.declare()  # the run may not have declared it: now there is one to delete
            bound.purge()
            bound.delete()
        exchange(channel).delete()
    if connection.transport_cls == "filesystem":
        # The file-system transport keeps an exchange's bindings in a file it never removes,
        # and every message it handed out in the processed folder.
        options = settings.BROKER_TRANSPORT_OPTIONS
        control = Path(options["control_folder"])
        (control / f"{exchange.name}.exchange").unlink(missing_ok=True)
        namespace = exchange.name.rsplit(".", 1)[0]  # <namespace>.events, .dead-letters
        for handed_out in Path(options["processed_folder"]).glob(f"*.{namespace}.*.msg"):
            handed_out.unlink(missing_ok=True)


def remove_namespace_from_the_broker() -> None:
    """Delete the current namespace's subscribed queues and events exchange, and their
    dead-letter queues and exchange."""
    consumers = settings.SHOP_EVENT_SUBSCRIPTIONS
    remove_from_the_broker(
        [broker.subscribed_queue(consumer) for consumer in consumers], broker.events_exchange()
    )
    remove_from_the_broker(
        [broker.dead_letter_queue(consumer) for consumer in consumers],
        broker.dead_letter_exchange(),
    )
