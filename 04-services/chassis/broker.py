"""The broker: one connection recipe, one topic exchange for every event, one queue per consumer.

Names carry a namespace (`SHOP_BROKER_NAMESPACE`, by default `shop-<stage folder>`), so stages
and test runs sharing one RabbitMQ (or one broker folder) never see each other's messages:
the exchange is `<namespace>.events`, a consumer's queue `<namespace>.<consumer>`.

Dead letters: a message its consumer gave up on (chassis.consumer) goes to the consumer's
dead-letter queue `<namespace>.<consumer>.dead-letters`, through the direct exchange
`<namespace>.dead-letters`. On RabbitMQ that is the broker's own dead-letter exchange (the
consumer's queue is declared with `x-dead-letter-exchange`, and a rejected message goes
there by itself); kombu's file-system transport has none, so there the consumer publishes
the message to the same exchange itself. Either way it waits in the same queue, for
`dead_letters list / show / replay` (chassis.dead_letters).

In embedded mode kombu's file-system transport keeps each message as a file and each
exchange's bindings in a file of the control folder, which is what lets a queue bound by
the consumer process receive what the relay process publishes.
"""

import logging
from collections.abc import Iterable

from django.conf import settings
from kombu import Connection, Exchange, Queue, binding

logger = logging.getLogger(__name__)


def connection() -> Connection:
    """A new, not yet connected, connection to the broker of the settings."""
    return Connection(settings.BROKER_URL, transport_options=settings.BROKER_TRANSPORT_OPTIONS)


def check(broker: Connection) -> None:
    """Connect, or raise at once: one attempt, a 3 s timeout, no retry loop."""
    broker.ensure_connection(max_retries=1, interval_start=0, timeout=3)


def events_exchange() -> Exchange:
    """The topic exchange every event is published to, routed by its type (`order.confirmed`)."""
    return Exchange(f"{settings.SHOP_BROKER_NAMESPACE}.events", type="topic", durable=True)


def dead_letter_exchange() -> Exchange:
    """Where messages their consumer gave up on go, routed by the consumer's queue name."""
    return Exchange(f"{settings.SHOP_BROKER_NAMESPACE}.dead-letters", type="direct", durable=True)


def has_dead_letter_exchanges(broker: Connection) -> bool:
    """Whether the broker dead-letters a rejected message itself (RabbitMQ does)."""
    return broker.transport.driver_type == "amqp"


def declare_subscriptions(broker: Connection) -> None:
    """Declare the events exchange and every subscribed consumer's queue with its bindings
    (settings.SHOP_EVENT_SUBSCRIPTIONS), and its dead-letter queue. Idempotent; the relay
    does it before publishing."""
    for consumer, routing_keys in settings.SHOP_EVENT_SUBSCRIPTIONS.items():
        declare_consumer_queue(broker, consumer_queue(consumer, routing_keys))
        dead_letter_queue(consumer)(broker.default_channel).declare()


def declare_consumer_queue(broker: Connection, queue: Queue) -> None:
    """Declare a consumer's queue. RabbitMQ refuses to declare a queue again with other
    arguments (PRECONDITION_FAILED): one an earlier version of the shop declared without the
    dead-letter arguments is replaced here, if it is empty. If it holds messages, the error
    stands: let its consumer drain it first (or delete it with `rabbitmqctl delete_queue`)."""
    channel = broker.channel()
    try:
        queue(channel).declare()
        return
    except broker.channel_errors as error:
        if getattr(error, "reply_code", None) != 406:  # 406: PRECONDITION_FAILED
            raise
        logger.warning("event=queue_redeclared queue=%s reason=%s", queue.name, error)
    finally:
        channel.close()  # RabbitMQ closed it after the refusal anyway
    channel = broker.channel()
    try:
        channel.queue_delete(queue.name, if_empty=True)
        queue(channel).declare()
    finally:
        channel.close()


def subscribed_queue(consumer: str) -> Queue:
    """A consumer's queue, bound to what settings.SHOP_EVENT_SUBSCRIPTIONS subscribes it to."""
    return consumer_queue(consumer, settings.SHOP_EVENT_SUBSCRIPTIONS[consumer])


def consumer_queue(consumer: str, routing_keys: Iterable[str]) -> Queue:
    """The durable queue of one consumer, bound to the events it wants (patterns allowed:
    `order.*`). Declaring it is idempotent; once declared it keeps collecting events while
    its consumer is down."""
    exchange = events_exchange()
    name = f"{settings.SHOP_BROKER_NAMESPACE}.{consumer}"
    return Queue(
        name,
        exchange=exchange,
        bindings=[binding(exchange, routing_key=key) for key in routing_keys],
        durable=True,
        # RabbitMQ: a rejected message goes to the dead-letter exchange, keyed by this name.
        # (A queue declared before with other arguments must be deleted once: RabbitMQ
        # refuses to redeclare a queue with different ones.)
        queue_arguments={
            "x-dead-letter-exchange": dead_letter_exchange().name,
            "x-dead-letter-routing-key": name,
        },
    )


def dead_letter_queue(consumer: str) -> Queue:
    """The durable queue of the messages `consumer` gave up on."""
    return dead_letter_queue_of(f"{settings.SHOP_BROKER_NAMESPACE}.{consumer}")


def dead_letter_queue_of(queue_name: str) -> Queue:
    """The dead-letter queue of the consumer's queue named `queue_name`."""
    return Queue(
        f"{queue_name}.dead-letters",
        exchange=dead_letter_exchange(),
        routing_key=queue_name,
        durable=True,
    )
