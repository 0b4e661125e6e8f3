"""A consumer process's loop: one durable queue, one message at a time, ack after handling.

kombu's ConsumerMixin owns the connection (and reconnects after a broker outage). The
handler runs before the ack, so a consumer that dies mid-message gets it again: handlers must
be idempotent. A handler that fails is retried in place, so the events keep their order, up to
`max_attempts` times: then the message goes to the consumer's dead-letter queue
(chassis.broker) and the queue moves on; `dead_letters replay` sends it back once it can
pass. A message no retry can fix (MalformedEvent) goes there at once. A database that is
down is not the message's fault: it is retried in place for as long as the outage lasts,
without counting. (RabbitMQ keeps an unacked message; kombu's file-system transport takes a
message off its queue when it hands it out, so there a consumer killed mid-message loses that
delivery: the stage README says how to replay an event from the outbox.)

`housekeeping`, if given, runs between messages once every `housekeeping_every` seconds
(and once at the start): how a consumer forgets the events it handled long ago.

Tracing: handling a message is a span, a child of the relay's publish span whose context the
message's headers carry: the email sent for an order shows in the trace of its checkout.
"""

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, InterfaceError, OperationalError, connections, transaction
from kombu import Connection, Producer, Queue
from kombu.mixins import ConsumerMixin
from opentelemetry import propagate
from opentelemetry.trace import SpanKind

from chassis import telemetry
from chassis.events import Event

from . import broker
from .models import ProcessedEvent

logger = logging.getLogger(__name__)

MAX_RETRY_DELAY = 30.0  # seconds between two tries of a failing handler, at most
# Failures that say the consumer cannot work now, not that the message is bad: never counted.
OUTAGES = (OperationalError, InterfaceError)


class MalformedEvent(ValueError):
    """A message no retry can fix (not an event this consumer understands): dead-lettered
    at once."""


class EventConsumer(ConsumerMixin):
    """Feeds each message of `queue` to `handler(envelope)`; set `should_stop` to end `run()`."""

    def __init__(
        self,
        *,
        connection: Connection,
        queue: Queue,
        handler: Callable[[dict[str, Any]], object],
        retry_delay: float = 1.0,
        max_attempts: int = 5,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_every: float = 3600.0,
    ):
        self.connection = connection
        self.queue = queue
        self.handler = handler
        self.retry_delay = retry_delay
        self.max_attempts = max_attempts
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
        broker.dead_letter_queue_of(self.queue.name)(channel).declare()
        logger.info("event=consumer_ready queue=%s", self.queue.name)

    def on_message(self, body: dict[str, Any], message) -> None:
        """Handle, then ack. A failure (a database restarting) is retried right here, with a
        growing pause, rather than requeued: a requeued message would go to the back of
        the queue, behind the events of the same order that came after it. After
        `max_attempts` failures the message is dead-lettered (see the module's docstring)."""
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
        failures = 0
        while True:
            try:
                self.handler(body)
            except MalformedEvent as error:
                self._dead_letter(body, message, reason=f"malformed: {error}", event=event)
                return
            except Exception as error:  # anything else may pass: try again
                if self.should_stop:  # asked to stop: give it back to the broker
                    logger.exception("event=event_failed %s requeued=true", event)
                    message.requeue()
                    return
                if not isinstance(error, OUTAGES):
                    failures += 1
                if failures >= self.max_attempts:
                    logger.exception("event=event_failed %s attempts=%d", event, failures)
                    self._dead_letter(body, message, reason=repr(error), event=event)
                    return
                logger.exception("event=event_failed %s retry_in=%.1fs", event, delay)
                time.sleep(delay)
                delay = min(max(delay * 2, 0.1), MAX_RETRY_DELAY)
                continue
            message.ack()
            return

    def _dead_letter(self, body: dict[str, Any], message, *, reason: str, event: str) -> None:
        """Move the message to this queue's dead-letter queue (chassis.broker)."""
        if broker.has_dead_letter_exchanges(self.connection):
            message.reject(requeue=False)  # RabbitMQ routes it to the dead-letter exchange
        else:  # published first, then acked: a crash in between leaves a copy in both
            Producer(message.channel).publish(
                body,
                exchange=broker.dead_letter_exchange(),
                routing_key=self.queue.name,
                serializer="json",
                delivery_mode=2,
                headers={"x-shop-dead-letter-reason": reason[:500]},
                declare=[broker.dead_letter_exchange()],
                retry=True,
            )
            message.ack()
        logger.error("event=event_dead_lettered %s reason=%s", event, reason[:500])


def parse(envelope: dict[str, Any], known: dict[str, Any]) -> Any:
    """The event an envelope carries, rebuilt by the class `known` gives its type (each has a
    `from_envelope`); MalformedEvent if it is none of them, or not well formed."""
    event_class = known.get(envelope.get("event_type", ""))
    if event_class is None:
        raise MalformedEvent(f"not an event this consumer handles: {envelope.get('event_type')!r}")
    try:
        return event_class.from_envelope(envelope)
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedEvent(f"{type(error).__name__}: {error}") from error


def first_delivery(consumer: str, event: Event) -> bool:
    """Remember that `consumer` handled `event`; False if it had already. Call it inside the
    transaction of the handler's work: rolled back with it if the work fails, and two
    deliveries racing each other meet at the unique index (the second finds it taken)."""
    try:
        with transaction.atomic():
            ProcessedEvent.objects.create(
                consumer=consumer, event_id=event.event_id, event_type=event.event_type
            )
    except IntegrityError:
        logger.info(
            "event=event_duplicate event_type=%s event_id=%s consumer=%s",
            event.event_type,
            event.event_id,
            consumer,
        )
        return False
    return True


def handler(consumer: str, *event_classes: type) -> Callable:
    """Make `act(event)` the handler of `consumer` for these events: the returned function
    takes an envelope, rebuilds its event (`parse`), and acts on it once (`first_delivery`),
    all in one transaction with what `act` writes (its outbox rows too); it returns whether
    this was the event's first delivery."""
    known = {event_class.event_type: event_class for event_class in event_classes}

    def decorate(act: Callable[[Any], object]) -> Callable[[dict[str, Any]], bool]:
        @functools.wraps(act)
        @transaction.atomic
        def handle(envelope: dict[str, Any]) -> bool:
            event = parse(envelope, known)
            if not first_delivery(consumer, event):
                return False
            act(event)
            return True

        return handle

    return decorate


def consume_in_background(
    *,
    consumer: str,
    handler: Callable[[dict[str, Any]], object],
    stop: threading.Event,
    max_attempts: int = 5,
    reconnect_after: float = 5.0,
) -> threading.Thread:
    """Feed the messages of `consumer`'s queue (settings.SHOP_EVENT_SUBSCRIPTIONS) to
    `handler` in a thread of this process, until `stop` is set: how a service's own process
    (`serve_grpc --consume-events`) reacts to events beside serving its calls. A broker that
    cannot be reached, or a queue that cannot be declared, is tried again `reconnect_after`
    seconds later: the service keeps serving meanwhile, and the events wait in its queue."""

    running: list[EventConsumer] = []  # the consumer of the current connection, if any

    def run() -> None:
        while not stop.is_set():
            try:
                with broker.connection() as connection:
                    broker.declare_subscriptions(connection)
                    running[:] = [
                        EventConsumer(
                            connection=connection,
                            queue=broker.subscribed_queue(consumer),
                            handler=handler,
                            max_attempts=max_attempts,
                        )
                    ]
                    if not stop.is_set():
                        running[0].run()
            except Exception:  # the broker away: the events wait in the queue meanwhile
                logger.exception("event=consumer_failed queue=%s", consumer)
                stop.wait(reconnect_after)
        connections.close_all()  # this thread's own: none outlives it

    def stop_when_asked() -> None:  # kombu's loop looks at should_stop once a second
        stop.wait()
        for worker in running:
            worker.should_stop = True

    threading.Thread(target=stop_when_asked, daemon=True).start()
    thread = threading.Thread(target=run, name=f"consumer-{consumer}", daemon=True)
    thread.start()
    return thread
