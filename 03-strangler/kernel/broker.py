"""The broker: one connection recipe, one topic exchange for every event, one queue per consumer.

Names carry a namespace (`SHOP_BROKER_NAMESPACE`, by default `shop-<stage folder>`), so stages
and test runs sharing one RabbitMQ (or one broker folder) never see each other's messages:
the exchange is `<namespace>.events`, a consumer's queue `<namespace>.<consumer>`.

In embedded mode kombu's file-system transport keeps each message as a file and each
exchange's bindings in a file of the control folder, which is what lets a queue bound by
the consumer process receive what the relay process publishes.
"""

from collections.abc import Iterable

from django.conf import settings
from kombu import Connection, Exchange, Queue, binding


def connection() -> Connection:
    """A new, not yet connected, connection to the broker of the settings."""
    return Connection(settings.BROKER_URL, transport_options=settings.BROKER_TRANSPORT_OPTIONS)


def check(broker: Connection) -> None:
    """Connect, or raise at once: one attempt, a 3 s timeout, no retry loop."""
    broker.ensure_connection(max_retries=1, interval_start=0, timeout=3)


def events_exchange() -> Exchange:
    """The topic exchange every event is published to, routed by its type (`order.confirmed`)."""
    return Exchange(f"{settings.SHOP_BROKER_NAMESPACE}.events", type="topic", durable=True)


def declare_subscriptions(broker: Connection) -> None:
    """Declare the events exchange and every subscribed consumer's queue with its bindings
    (settings.SHOP_EVENT_SUBSCRIPTIONS). Idempotent; the relay does it before publishing."""
    channel = broker.default_channel
    for consumer, routing_keys in settings.SHOP_EVENT_SUBSCRIPTIONS.items():
        consumer_queue(consumer, routing_keys)(channel).declare()


def subscribed_queue(consumer: str) -> Queue:
    """A consumer's queue, bound to what settings.SHOP_EVENT_SUBSCRIPTIONS subscribes it to."""
    return consumer_queue(consumer, settings.SHOP_EVENT_SUBSCRIPTIONS[consumer])


def consumer_queue(consumer: str, routing_keys: Iterable[str]) -> Queue:
    """The durable queue of one consumer, bound to the events it wants (patterns allowed:
    `order.*`). Declaring it is idempotent; once declared it keeps collecting events while
    its consumer is down."""
    exchange = events_exchange()
    return Queue(
        f"{settings.SHOP_BROKER_NAMESPACE}.{consumer}",
        exchange=exchange,
        bindings=[binding(exchange, routing_key=key) for key in routing_keys],
        durable=True,
    )
