"""The consumer loop's promise: ack after handling, retry what failed, drop what never can."""

from kernel.consumer import EventConsumer, MalformedEvent


class FakeMessage:
    """Records what the consumer did with a message: ack or requeue."""

    def __init__(self):
        self.outcome: str | None = None
        self.headers: dict[str, str] = {}  # kombu's Message has them: the trace context

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


def test_a_handler_failure_is_retried_in_place_until_it_passes(caplog):
    # Retried here, not requeued: a requeued message would queue up behind later events of
    # the same order (and the file-system broker would copy it to every bound queue).
    calls: list[dict] = []

    def database_restarting(envelope):
        calls.append(envelope)
        if len(calls) < 3:
            raise ConnectionError("database restarting")

    message = FakeMessage()
    consumer_with(database_restarting).on_message({"event_type": "order.confirmed"}, message)

    assert len(calls) == 3
    assert message.outcome == "acked"
    assert caplog.text.count("event=event_failed") == 2


def test_a_failing_message_goes_back_to_the_broker_when_the_consumer_stops(caplog):
    consumer = consumer_with(None)

    def down_while_stopping(envelope):
        consumer.should_stop = True
        raise ConnectionError("database down")

    consumer.handler = down_while_stopping
    message = FakeMessage()
    consumer.on_message({"event_type": "order.confirmed"}, message)

    assert message.outcome == "requeued"
    assert "requeued=true" in caplog.text


def test_a_malformed_message_is_dropped_not_retried_forever(caplog):
    def refuse(envelope):
        raise MalformedEvent("not an order event")

    message = FakeMessage()
    consumer_with(refuse).on_message({"event_type": "order.shipped"}, message)

    assert message.outcome == "acked"
    assert "event=event_dropped" in caplog.text


def test_housekeeping_runs_at_once_then_once_per_interval(monkeypatch):
    from kernel import consumer as consumer_module

    now = [1000.0]
    monkeypatch.setattr(consumer_module.time, "monotonic", lambda: now[0])
    runs = []
    consumer = EventConsumer(
        connection=None,
        queue=None,
        handler=print,
        housekeeping=lambda: runs.append(now[0]),
        housekeeping_every=60,
    )

    for clock in (1000.0, 1001.0, 1059.0, 1060.0, 1070.0):
        now[0] = clock
        consumer.on_iteration()

    assert runs == [1000.0, 1060.0]


def test_a_failing_housekeeping_is_logged_and_does_not_stop_the_consumer(caplog):
    def broken():
        raise RuntimeError("database restarting")

    consumer = EventConsumer(connection=None, queue=None, handler=print, housekeeping=broken)

    consumer.on_iteration()

    assert "event=housekeeping_failed" in caplog.text
