"""A consumer process's loop: one durable queue, one message at a time, ack after handling.

kombu's ConsumerMixin owns the connection (and reconnects after a broker outage). The
handler runs before the ack, so a consumer that dies mid-message gets it again: handlers must
be idempotent. A handler that fails is retried in place, so the events keep their order.
(RabbitMQ keeps an unacked message; kombu's file-system transport takes a message off its
queue when it hands it out, so there a consumer killed mid-message loses that delivery: the
stage README says how to replay an event from the outbox.)

`run_until_stopped` is a consumer process's whole life (the notifications consumer's and
the catalog service's catalog-sync): tracing, its queue's depth as a metric, the loop, and a
clean stop on SIGTERM.

`housekeeping`, if given, runs between messages once every `housekeeping_every` seconds
(and once at the start): how a consumer forgets the events it handled long ago.

Tracing: handling a message is a span, a child of the relay's publish span whose context the
message's headers carry: the email sent for an order shows in the trace of its checkout.
"""

import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from kombu import Connection, Queue
from kombu.mixins import ConsumerMixin
from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from kernel import broker, telemetry
from kernel.metrics import QueueDepth, serve

logger = logging.getLogger(__name__)

MAX_RETRY_DELAY = 30.0  # seconds between two tries of a failing handler, at most


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
        housekeeping: Callable[[], object] | None = None,
        housekeeping_every: float = 3600.0,
    ):
        self.connection = connection
        self.queue = queue
        self.handler = handler
        self.retry_delay = retry_delay
        self.housekeeping = housekeeping
        self.housekeeping_every = housekeeping_every
        self._next_housekeeping = time.monotonic()

    def on_iteration(self) -> None:
        """kombu calls this once per turn of its loop (at least once a second)."""
        if self.housekeeping is None or time.monotonic() < self._next_housekeeping:
            return
        self._next_housekeeping = time.monotonic() + self.housekeeping_every
        try:
            self.housekeeping()
        except Exception:  # a chore that fails (a database restarting) waits for next time
            logger.exception("event=housekeeping_failed")

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
        """Handle, then ack. A failure (a database restarting) is retried right here, with a
        growing pause, rather than requeued: a requeued message would go to the back of
        the queue, behind the events of the same order that came after it."""
        with telemetry.tracer.start_as_current_span(
            f"process {body.get('event_type')}",
            context=propagate.extract(message.headers or {}),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "process",
                "messaging.message.id": str(body.get("event_id")),
            },
        ):
            self._handle(body, message)

    def _handle(self, body: dict[str, Any], message) -> None:
        event = f"event_type={body.get('event_type')} event_id={body.get('event_id')}"
        delay = self.retry_delay
        while True:
            try:
                self.handler(body)
            except MalformedEvent as error:
                logger.error("event=event_dropped %s reason=%s", event, error)
                message.ack()
                return
            except Exception:  # anything else may pass: try again
                if self.should_stop:  # asked to stop: give it back to the broker
                    logger.exception("event=event_failed %s requeued=true", event)
                    message.requeue()
                    return
                logger.exception("event=event_failed %s retry_in=%.1fs", event, delay)
                time.sleep(delay)
                delay = min(max(delay * 2, 0.1), MAX_RETRY_DELAY)
                continue
            message.ack()
            return


def run_until_stopped(
    *,
    process: str,
    queue: Queue,
    handler: Callable[[dict[str, Any]], object],
    housekeeping: Callable[[], object] | None = None,
) -> None:
    """Consume `queue` with `handler` until SIGTERM or SIGINT; `process` is the Procfile's name
    for it (its traces' service name). Its metrics port serves the queue's depth: its lag."""
    telemetry.setup(process)
    serve(QueueDepth(queue))
    with broker.connection() as connection:
        consumer = EventConsumer(
            connection=connection, queue=queue, handler=handler, housekeeping=housekeeping
        )

        # honcho stops a process with SIGTERM: finish the message in hand, then leave
        # (kombu's loop looks at should_stop at least once a second).
        def stop(*_) -> None:
            consumer.should_stop = True

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, stop)
        consumer.run()
