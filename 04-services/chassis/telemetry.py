"""Tracing: every process of the stage calls `setup("<its name>")` once, where it starts.

After that the maintained OpenTelemetry instrumentations record the spans, not our code:
Django (each HTTP request; its middleware spared a thread hop, chassis/tracing_middleware.py),
gRPC (each call, client and server side, the trace context travelling in the call's
metadata) and the database drivers (each query: sqlite3 in embedded mode, psycopg in real
mode). One public request is one trace across processes.

Where the spans go:
- by default, a file per stage that needs no server: $SHOP_VAR_DIR/traces/spans.jsonl, one
  OTLP/JSON `ExportTraceServiceRequest` per line (the encoding a collector accepts), shared
  by every process of the stage and bounded (SpanFileExporter); `make trace` reads it;
- with OTEL_EXPORTER_OTLP_ENDPOINT set (Jaeger in docker-compose), over OTLP/HTTP instead;
- OTEL_SDK_DISABLED=true: nowhere, the instrumentations are not even installed.

Every HTTP response says which trace it belongs to (X-Trace-Id), and every log line too
(TraceIdFilter), so a learner goes from a curl or a log line to the waterfall.
"""

import fcntl
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import Link, SpanKind

STAGE_DIR = Path(__file__).resolve().parent.parent
STAGE_NUMBER = STAGE_DIR.name.split("-")[0]  # "04"
FILE_BYTES = 5 * 1024 * 1024  # SHOP_TRACE_FILE_BYTES: spans.jsonl's size before it rotates
FILE_SCHEDULE_DELAY_MS = 1000  # a span reaches the file within a second: `make trace` finds it

logger = logging.getLogger(__name__)
tracer = trace.get_tracer("shop")  # our own few spans: the outbox's publish, an event's handling


def setup(process: str) -> None:
    """Trace this process as `shop-04.<process>` (the Procfile's name for it)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return  # set up already (a test that starts a command twice)
    provider = TracerProvider(
        resource=HashedOnce(Resource.create({SERVICE_NAME: f"shop-{STAGE_NUMBER}.{process}"})),
        # OTEL_TRACES_SAMPLER (e.g. parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG=0.1) keeps
        # a share of the traces when every one costs too much; by default, all of them.
        sampler=None if "OTEL_TRACES_SAMPLER" in os.environ else ParentBased(SkipLoneClientSpans()),
    )
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        exporter = SpanFileExporter(
            spans_file(), max_bytes=int(os.environ.get("SHOP_TRACE_FILE_BYTES") or FILE_BYTES)
        )
        delay = int(os.environ.get("OTEL_BSP_SCHEDULE_DELAY") or FILE_SCHEDULE_DELAY_MS)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=delay))
    trace.set_tracer_provider(provider)

    # The instrumentations, imported here: a process with tracing off never loads them.
    from opentelemetry.instrumentation.grpc import GrpcInstrumentorClient, GrpcInstrumentorServer
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

    from chassis.tracing_middleware import AsgiDjangoInstrumentor

    AsgiDjangoInstrumentor().instrument(response_hook=_add_trace_id_header)
    GrpcInstrumentorServer().instrument()
    GrpcInstrumentorClient().instrument()
    SQLite3Instrumentor().instrument()
    PsycopgInstrumentor().instrument()


def spans_file() -> Path:
    var_dir = os.environ.get("SHOP_VAR_DIR") or STAGE_DIR.parent / "var" / STAGE_DIR.name
    return Path(var_dir).resolve() / "traces" / "spans.jsonl"


class HashedOnce(Resource):
    """The process's resource (its service name, the SDK's version), hashed once.

    The OTLP encoder groups the spans of every batch by their resource, a dict lookup per
    span, and the SDK's Resource computes its hash by JSON-encoding its attributes each time:
    under load that was 40 % of the catalog service's export work (py-spy; workshop/
    comparison.md, "the cost of seeing"). A resource never changes, so its hash need not."""

    def __init__(self, resource: Resource):
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


class SkipLoneClientSpans(Sampler):
    """Record a trace for what a request or an event starts, not for a background loop's
    polling: a span that calls out (a database query, a gRPC call) with no parent is the
    relay asking the outbox for work five times a second, or the expiry loop's query. Kept,
    those would bury the checkouts under thousands of one-query traces."""

    def should_sample(
        self,
        parent_context,
        trace_id,
        name,
        kind=None,
        attributes=None,
        links=None,
        trace_state=None,
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "SkipLoneClientSpans"


class SpanFileExporter(SpanExporter):
    """Appends each batch of spans to `path` as one line of OTLP/JSON (the official encoder).

    Every process of the stage writes the same file, so each write holds an exclusive
    `flock` on it. Bounded: when a line would take the file past `max_bytes`, the file is
    first renamed to `<path>.1` (replacing the previous one), so at most about twice
    `max_bytes` is ever on disk and the oldest spans are the ones dropped. A reader reads
    `<path>.1`, then `<path>`.
    """

    def __init__(self, path: Path, *, max_bytes: int = FILE_BYTES):
        self.path = path
        self.rotated = path.with_name(path.name + ".1")
        self.max_bytes = max_bytes

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        line = json.dumps(encode_spans(spans).to_dict(), separators=(",", ":")) + "\n"
        size = len(line.encode())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                with open(self.path, "a", encoding="utf-8") as file:
                    fcntl.flock(file, fcntl.LOCK_EX)  # released when the file is closed
                    if not self._still_current(file):
                        continue  # another process rotated it while we waited: reopen
                    written = os.fstat(file.fileno()).st_size  # others wrote since we opened
                    if written and written + size > self.max_bytes:
                        os.replace(self.path, self.rotated)
                        continue  # write the line to a fresh file
                    file.write(line)
                    return SpanExportResult.SUCCESS
        except OSError:
            logger.exception("event=trace_export_failed path=%s", self.path)
            return SpanExportResult.FAILURE

    def _still_current(self, file) -> bool:
        try:
            return os.fstat(file.fileno()).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def shutdown(self) -> None:
        pass  # nothing held open between two exports


def _add_trace_id_header(span, request, response) -> None:
    """Django's response hook: every HTTP response names its trace (API.md, X-Trace-Id)."""
    response["X-Trace-Id"] = trace.format_trace_id(span.get_span_context().trace_id)


class TraceIdFilter(logging.Filter):
    """Adds `trace_id` to every log record ("-" outside a trace; settings.LOGGING names it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.trace_id = trace.format_trace_id(context.trace_id) if context.is_valid else "-"
        return True


# Across the broker: an event carries the W3C `traceparent` of the transaction that wrote it.


def current_traceparent() -> str:
    """The W3C traceparent of the current span ("" outside a trace, or with tracing off)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


def context_from(traceparent: str):
    """The trace context a stored traceparent names, to start a child span in it."""
    return propagate.extract({"traceparent": traceparent} if traceparent else {})


def link_to(traceparent: str) -> list[Link]:
    """A link to the span a stored traceparent names (none if there is none)."""
    context = trace.get_current_span(context_from(traceparent)).get_span_context()
    return [Link(context)] if context.is_valid else []
