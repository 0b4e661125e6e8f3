"""Tracing's own parts: the bounded span file every process of the stage writes, and the
sampler that keeps lone queries out of it. Whole traces across running processes are the
contract suite's (workshop/contract/test_traces.py)."""

import json
import multiprocessing
from pathlib import Path

from kernel import telemetry
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind


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


def test_a_lone_query_starts_no_trace_but_a_request_or_an_event_does():
    sampler = telemetry.SkipLoneClientSpans()

    def decision(kind):
        return sampler.should_sample(None, 1, "span", kind=kind).decision.is_sampled()

    assert not decision(SpanKind.CLIENT)
    assert decision(SpanKind.SERVER) and decision(SpanKind.CONSUMER)
    assert decision(SpanKind.INTERNAL)
