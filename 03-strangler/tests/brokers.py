"""Test helpers for the real broker: a throw-away queue bound to the test run's exchange."""

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kernel import broker


@contextmanager
def received_on_a_test_queue(routing_keys: list[str]) -> Iterator[Callable[..., list[dict]]]:
    """Declare a queue of its own, bound to `routing_keys`; yield `received(count)`, which
    waits (up to 10 s) for that many messages and returns their bodies. The queue is deleted
    afterwards."""
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
