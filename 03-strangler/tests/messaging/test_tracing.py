"""Tracing across the broker: the outbox row keeps the trace context of the transaction that
wrote it, the relay publishes in that trace and the message carries it on to the consumer.

The spans of these tests go to memory (an in-process exporter).
"""

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from django.db import transaction
from kernel import broker, telemetry
from kernel.consumer import EventConsumer
from kernel.events import Event
from messaging import outbox, relay
from messaging.models import OutboxMessage
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.brokers import first_message

TRACEPARENT = "00-{trace_id:032x}-{span_id:016x}-01"


@dataclass(frozen=True, kw_only=True)
class ThingHappened(Event):
    """Any event: tracing does not care what it says."""

    event_type: ClassVar[str] = "thing.happened"

    thing_id: int

    @property
    def aggregate_id(self) -> str:
        return str(self.thing_id)

    def data(self) -> dict[str, Any]:
        return {"thing_id": self.thing_id}


def ids_in(traceparent: str) -> tuple[int, int]:
    """The trace id and the span id a W3C traceparent names."""
    _version, trace_id, span_id, _flags = traceparent.split("-")
    return int(trace_id, 16), int(span_id, 16)


@pytest.fixture(scope="module")
def finished_spans():
    """Every span this process ends, kept in memory too. OTel allows one provider per process:
    a command a test ran may have set it up already (telemetry.setup)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


@pytest.fixture
def spans(finished_spans):
    finished_spans.clear()
    return finished_spans


def test_an_outbox_row_keeps_the_trace_context_of_the_transaction_that_wrote_it(db, spans):
    with telemetry.tracer.start_as_current_span("checkout") as checkout, transaction.atomic():
        outbox.record(ThingHappened(thing_id=1))

    row = OutboxMessage.objects.get()
    context = checkout.get_span_context()
    assert ids_in(row.traceparent) == (context.trace_id, context.span_id)


def test_outside_a_trace_the_outbox_row_has_no_trace_context(db):
    with transaction.atomic():
        outbox.record(ThingHappened(thing_id=1))

    assert OutboxMessage.objects.get().traceparent == ""


def test_the_relay_publishes_in_the_writers_trace_and_the_message_carries_it_on(db, spans):
    with telemetry.tracer.start_as_current_span("checkout") as checkout, transaction.atomic():
        outbox.record(ThingHappened(thing_id=1))
    queue = broker.consumer_queue(f"probe-{uuid.uuid4().hex[:8]}", ["thing.happened"])
    with broker.connection() as connection:
        bound = queue(connection.default_channel)
        bound.declare()
        publisher = relay.Publisher()
        try:
            relay.publish_pending(publisher=publisher)
            message = first_message(bound)
        finally:
            publisher.close()
            bound.delete()

    [publish] = [span for span in spans.get_finished_spans() if span.name.startswith("publish")]
    assert publish.name == "publish thing.happened"
    assert publish.kind == SpanKind.PRODUCER
    assert publish.context.trace_id == checkout.get_span_context().trace_id
    assert publish.parent.span_id == checkout.get_span_context().span_id
    assert ids_in(message.headers["traceparent"]) == (
        publish.context.trace_id,
        publish.context.span_id,
    )


class FakeMessage:
    def __init__(self, headers):
        self.headers = headers
        self.outcome = None

    def ack(self):
        self.outcome = "acked"


def test_a_consumer_handles_an_event_in_the_trace_its_message_carries(spans):
    trace_id, span_id = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
    handled_in = []
    consumer = EventConsumer(
        connection=None,
        queue=broker.consumer_queue("notifications", ["order.*"]),
        handler=lambda body: handled_in.append(trace.get_current_span().get_span_context()),
    )
    message = FakeMessage({"traceparent": TRACEPARENT.format(trace_id=trace_id, span_id=span_id)})

    consumer.on_message({"event_type": "order.confirmed", "event_id": "1"}, message)

    [process] = spans.get_finished_spans()
    assert (process.name, process.kind) == ("process order.confirmed", SpanKind.CONSUMER)
    assert (process.context.trace_id, process.parent.span_id) == (trace_id, span_id)
    assert handled_in == [process.context]
    assert message.outcome == "acked"
