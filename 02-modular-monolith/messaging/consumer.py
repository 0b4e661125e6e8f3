"""A consumer process's loop: one durable queue, one message at a time, ack after handling.

kombu's ConsumerMixin owns the connection (and reconnects after a broker outage). The
handler runs before the ack, so a consumer that dies mid-message gets it again: handlers must
be idempotent. (RabbitMQ keeps an unacked message; kombu's file-system transport takes a
message off its queue when it hands it out, so there the outbox is what makes events durable.)
"""

import logging
import time
from collections.abc import Callable
from typing import Any

from kombu import Connection, Queue
from kombu.mixins import ConsumerMixin

logger = logging.getLogger(__name__)


class MalformedEvent(ValueError):
    """A message no retry can fix (not an event this consumer understands): it is dropped."""


class EventConsumer(ConsumerMixin):
    """Feeds each message of `queue` to `handler(envelope)`; set `should_stop` to end `run()`."""

    def __init__(
        self,
        *,
        connection: Connection,
        queue: Queue,
        handler: Callable[[dict[str, Any]], object],
        retry_delay: float = 1.0,
    ):
        self.connection = connection
        self.queue = queue
        self.handler = handler
        self.retry_delay = retry_delay

    def get_consumers(self, Consumer, channel):  # the capital C is kombu's name for it
        # prefetch 1: the broker hands this process one message at a time, so a message
        # waiting behind a slow one can still go to another consumer process.
        return [
            Consumer(
                queues=[self.queue],
                callbacks=[self.on_message],
                accept=["json"],
                prefetch_count=1,
            )
        ]

    def on_consume_ready(self, connection, channel, consumers, **kwargs) -> None:
        logger.info("event=consumer_ready queue=%s", self.queue.name)

    def on_message(self, body: dict[str, Any], message) -> None:
        event = f"event_type={body.get('event_type')} event_id={body.get('event_id')}"
        try:
            self.handler(body)
        except MalformedEvent as error:
            logger.error("event=event_dropped %s reason=%s", event, error)
            message.ack()
        except Exception:  # anything else may pass (a database restart): try it again later
            logger.exception("event=event_failed %s retry_in=%.1fs", event, self.retry_delay)
            time.sleep(self.retry_delay)
            message.requeue()
        else:
            message.ack()
