"""The messages a consumer gave up on (chassis.consumer), in its dead-letter queue: list them,
show one, send them back.

    python -m notifications dead_letters list
    python -m notifications dead_letters show <event id>
    python -m notifications dead_letters replay <event id> | --all

Reading a queue means taking its messages: `list` and `show` take them all and give them
back (requeue) before they return; `replay` publishes the chosen ones to the consumer's own
queue (the default exchange routes by queue name, so no other subscriber of the event gets
a second copy) and only then acks them out of the dead-letter queue. A crash in between
leaves the message in both queues; the consumer's processed-event ids make that harmless,
as they make a replay of an event that had passed after all harmless: it is handled once.
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kombu import Connection, Exchange, Message, Producer

from . import broker


@dataclass(frozen=True)
class DeadLetter:
    event_id: str
    event_type: str
    body: dict[str, Any]
    headers: dict[str, Any]

    @property
    def reason(self) -> str:
        """Why it was given up on: the consumer's words (file broker), or RabbitMQ's."""
        if "x-shop-dead-letter-reason" in self.headers:
            return str(self.headers["x-shop-dead-letter-reason"])
        deaths = self.headers.get("x-death") or [{}]
        return str(deaths[0].get("reason", "unknown"))


@contextlib.contextmanager
def _taken(connection: Connection, consumer: str) -> Iterator[list[tuple[DeadLetter, Message]]]:
    """Every message of the consumer's dead-letter queue, taken; those still unsettled when
    the block ends are given back."""
    queue = broker.dead_letter_queue(consumer)(connection.default_channel)
    queue.declare()
    taken: list[tuple[DeadLetter, Message]] = []
    try:
        while (message := queue.get(no_ack=False, accept=["json"])) is not None:
            body = message.decode()
            letter = DeadLetter(
                event_id=str(body.get("event_id", "")),
                event_type=str(body.get("event_type", "")),
                body=body,
                headers=dict(message.headers or {}),
            )
            taken.append((letter, message))
        yield taken
    finally:
        for _, message in taken:
            if not message.acknowledged:
                message.requeue()


def dead_letters(consumer: str) -> list[DeadLetter]:
    """The consumer's dead letters, oldest first (left where they are)."""
    with broker.connection() as connection, _taken(connection, consumer) as taken:
        return [letter for letter, _ in taken]


def replay(consumer: str, *, event_ids: set[str] | None = None) -> list[DeadLetter]:
    """Send the dead letters of these event ids (None: all of them) back to the consumer's
    queue; returns those sent."""
    sent = []
    with broker.connection() as connection, _taken(connection, consumer) as taken:
        producer = Producer(connection.default_channel)
        for letter, message in taken:
            if event_ids is not None and letter.event_id not in event_ids:
                continue
            producer.publish(
                letter.body,
                exchange=Exchange(""),  # the default exchange: straight to the named queue
                routing_key=broker.subscribed_queue(consumer).name,
                serializer="json",
                delivery_mode=2,
                message_id=letter.event_id,
                retry=True,
            )
            message.ack()
            sent.append(letter)
    return sent
