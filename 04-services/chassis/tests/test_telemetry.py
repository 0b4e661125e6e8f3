"""Tracing: the bounded span file, and the trace context an event carries across the broker.

The spans of these tests go to memory (an in-process exporter); the file's tests write the
real file format. Whole traces across running processes are the stage's e2e test
(workshop/contract/test_traces.py).
"""

import json
import multiprocessing
import uuid
from pathlib import Path

import pytest
from django.db import transaction
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from chassis import broker, outbox, relay, telemetry
from chassis.broker_testing import first_message
from chassis.consumer import EventConsumer
from chassis.models import OutboxMessage
from chassis.testing import spans_in_memory

from .things import ThingHappened

TRACEPARENT = "00-{trace_id:032x}-{span_id:016x}-01"


def ids_in(traceparent: str) -> tuple[int, int]:
    """The trace id and the span id a W3C traceparent names."""
    _version, trace_id, span_id, _flags = traceparent.split("-")
    return int(trace_id, 16), int(span_id, 16)


@pytest.fixture(scope="module")
def finished_spans():
    """Every span this process ends, kept in memory too."""
    with spans_in_memory() as memory:
        yield memory


@pytest.fixture
def spans(finished_spans):
    finished_spans.clear()
    return finished_spans


def one_line_of_spans(count: int) -> list:
    """`count` finished spans of one trace (a root and its children), as the SDK hands them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("root"):
        for number in range(count - 1):
            with tracer.start_as_current_span(f"child {number}"):
                pass
    return list(memory.get_finished_spans())


def test_the_span_file_holds_otlp_json_one_request_per_line(tmp_path):
    path = tmp_path / "traces" / "spans.jsonl"
    exporter = telemetry.SpanFileExporter(path)

    exporter.export(one_line_of_spans(3))

    [line] = path.read_text().splitlines()
    request = json.loads(line)
    [resource_spans] = request["resourceSpans"]
    [scope_spans] = resource_spans["scopeSpans"]
    root, *children = sorted(scope_spans["spans"], key=lambda span: "parentSpanId" in span)
    assert len(root["traceId"]) == 32 and root["traceId"] == root["traceId"].lower()
    assert len(root["spanId"]) == 16
    assert {child["parentSpanId"] for child in children} == {root["spanId"]}
    assert int(root["endTimeUnixNano"]) >= int(root["startTimeUnixNano"]) > 0
    assert isinstance(root["startTimeUnixNano"], str)


def _write_batches(path: str, max_bytes: int, batches: int) -> None:
    exporter = telemetry.SpanFileExporter(Path(path), max_bytes=max_bytes)
    spans = one_line_of_spans(5)
    for _ in range(batches):
        exporter.export(spans)


def test_the_span_file_stays_bounded_under_a_burst_from_several_processes(tmp_path):
    path = tmp_path / "spans.jsonl"
    max_bytes = 20_000
    writers = [
        multiprocessing.get_context("fork").Process(
            target=_write_batches, args=(str(path), max_bytes, 60)
        )
        for _ in range(4)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
        assert writer.exitcode == 0

    rotated = path.with_name("spans.jsonl.1")
    assert rotated.exists(), "240 batches of 5 spans fill 20 kB: the file should have rotated"
    for file in (path, rotated):
        assert 0 < file.stat().st_size <= max_bytes
        for line in file.read_text().splitlines():  # whole lines: no two writes interleaved
            assert len(json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"]) == 5


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


def test_a_lone_query_starts_no_trace_but_a_request_or_an_event_does():
    sampler = telemetry.SkipLoneClientSpans()

    def decision(kind):
        return sampler.should_sample(None, 1, "span", kind=kind).decision.is_sampled()

    assert not decision(SpanKind.CLIENT)
    assert decision(SpanKind.SERVER) and decision(SpanKind.CONSUMER)
    assert decision(SpanKind.INTERNAL)


def test_the_process_resource_hashed_once_is_the_same_resource():
    resource = Resource.create({SERVICE_NAME: "shop-04.test"})

    hashed = telemetry.HashedOnce(resource)

    assert hashed == resource and hash(hashed) == hash(resource)
    assert dict(hashed.attributes) == dict(resource.attributes)
    assert hashed.schema_url == resource.schema_url
