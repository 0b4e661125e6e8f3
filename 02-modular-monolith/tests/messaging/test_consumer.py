"""The consumer loop's promise: ack after handling, retry what failed, drop what never can."""

from messaging.consumer import EventConsumer, MalformedEvent


class FakeMessage:
    """Records what the consumer did with a message: ack or requeue."""

    def __init__(self):
        self.outcome: str | None = None

    def ack(self):
        self.outcome = "acked"

    def requeue(self):
        self.outcome = "requeued"


def consumer_with(handler) -> EventConsumer:
    return EventConsumer(connection=None, queue=None, handler=handler, retry_delay=0)


def test_a_handled_message_is_acked_after_its_handler_ran():
    handled: list[dict] = []
    message = FakeMessage()

    consumer_with(handled.append).on_message({"event_type": "order.confirmed"}, message)

    assert handled == [{"event_type": "order.confirmed"}]
    assert message.outcome == "acked"


def test_a_handler_failure_puts_the_message_back_for_a_retry(caplog):
    def database_down(envelope):
        raise ConnectionError("database restarting")

    message = FakeMessage()
    consumer_with(database_down).on_message({"event_type": "order.confirmed"}, message)

    assert message.outcome == "requeued"
    assert "event=event_failed" in caplog.text


def test_a_malformed_message_is_dropped_not_retried_forever(caplog):
    def refuse(envelope):
        raise MalformedEvent("not an order event")

    message = FakeMessage()
    consumer_with(refuse).on_message({"event_type": "order.shipped"}, message)

    assert message.outcome == "acked"
    assert "event=event_dropped" in caplog.text
