"""Read the span files the stages write and put their spans back together into traces.

Each stage's processes append to one file per stage, `<var dir>/traces/spans.jsonl`, and
rotate it to `spans.jsonl.1` when it passes its size limit. Every line is one OTLP/JSON
`ExportTraceServiceRequest` (resourceSpans -> scopeSpans -> spans), as the OpenTelemetry
protocol's JSON encoding writes it: ids in lower-case hex, times as decimal strings of
nanoseconds, kind and status code as integers. Several processes write to one file, each in
batches of its own, so a trace's spans arrive in any order and may straddle the two files;
a parent may be missing (dropped with an old file, or never exported because its process
was killed), and the last line may still be half-written. None of that stops the reader: it
keeps what it can read and says what it skipped.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPAN_FILE = "spans.jsonl"
# Older spans, read first: the live file continues where it ends.
ROTATED_SPAN_FILE = "spans.jsonl.1"
# OTLP's Status.code: 0 unset, 1 ok, 2 error.
STATUS_ERROR = 2
# OTLP's Span.kind; the JSON encoding writes the integer, some writers the enum's name.
SPAN_KINDS = {
    0: "unspecified",
    1: "internal",
    2: "server",
    3: "client",
    4: "producer",
    5: "consumer",
}
SPAN_KIND_SERVER = 2
UNKNOWN_SERVICE = "unknown_service"  # what the SDK calls a process that named no service


@dataclass(frozen=True)
class Link:
    """A pointer from a span to a span of another trace: the consumer of an event, the
    recovery of a saga, which are traces of their own that continue an earlier one."""

    trace_id: str
    span_id: str


@dataclass(frozen=True)
class Event:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: dict[str, Any]
    events: tuple[Event, ...]
    links: tuple[Link, ...]
    source: str  # "<file>:<line>", for messages about it

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def is_error(self) -> bool:
        return self.status_code == STATUS_ERROR

    @property
    def kind_name(self) -> str:
        return SPAN_KINDS.get(self.kind, str(self.kind))

    def error_summary(self) -> str:
        """Why the span failed, as its status message or its recorded exception say."""
        if self.status_message:
            return self.status_message
        for event in self.events:
            if event.name == "exception":
                kind = event.attributes.get("exception.type", "")
                message = event.attributes.get("exception.message", "")
                return f"{kind}: {message}".strip(": ")
        return ""


@dataclass
class SpanFiles:
    """What reading the span files found: the spans, where it looked, what it could not read."""

    spans: list[Span] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)  # where it looked
    files: list[Path] = field(default_factory=list)  # the files that exist, in reading order
    skipped: list[str] = field(default_factory=list)  # "<file>:<line>: why", one per bad line


@dataclass
class Trace:
    trace_id: str
    spans: list[Span]  # by start time

    @property
    def start_ns(self) -> int:
        return self.spans[0].start_ns

    @property
    def end_ns(self) -> int:
        return max(span.end_ns for span in self.spans)

    @property
    def duration_ns(self) -> int:
        """From the first span's start to the last one's end: the consumer of an event that
        joined the trace a second later included."""
        return self.end_ns - self.start_ns

    @property
    def request_end_ns(self) -> int:
        """When the root span ended: the response, for a trace a request started. What ends
        later (an event's publish and handling, children of the request) ran after it."""
        return max(self.root.end_ns, self.start_ns + 1)

    @property
    def request_duration_ns(self) -> int:
        return self.request_end_ns - self.start_ns

    @property
    def root(self) -> Span:
        """The span that started the trace: the first whose parent is not in the trace (the
        true root, or the earliest orphan when the root itself was lost)."""
        ids = {span.span_id for span in self.spans}
        tops = [span for span in self.spans if span.parent_span_id not in ids]
        return tops[0]

    @property
    def has_root(self) -> bool:
        return any(span.parent_span_id is None for span in self.spans)

    @property
    def errors(self) -> list[Span]:
        return [span for span in self.spans if span.is_error]

    @property
    def services(self) -> list[str]:
        """The services that took part, in the order they first appear."""
        return list(dict.fromkeys(span.service for span in self.spans))

    @property
    def linked_traces(self) -> list[str]:
        """The other traces this one's spans link to (what it continues)."""
        found = (link.trace_id for span in self.spans for link in span.links)
        return [trace_id for trace_id in dict.fromkeys(found) if trace_id != self.trace_id]


@dataclass
class Row:
    """One line of a waterfall: a span, how deep it sits, and why it sits where it does."""

    span: Span
    depth: int
    missing_parent: str | None = None  # the parent's id, when the parent is not in the files
    # On the first row of a linked trace: the span, shown above, that its trace continues.
    linked_from: Span | None = None


def span_files(folder: Path) -> list[Path]:
    """The span files of one folder that exist, oldest first."""
    return [path for path in (folder / ROTATED_SPAN_FILE, folder / SPAN_FILE) if path.is_file()]


def read_span_files(folders: Iterable[Path]) -> SpanFiles:
    """Every span in the span files of these folders. A line that is not a whole export request
    (the last one, half-written while a process exports) is skipped and reported; a span read
    twice (a file rotated while we read) is kept once."""
    found = SpanFiles(folders=list(folders))
    seen: dict[tuple[str, str], int] = {}
    for folder in found.folders:
        for path in span_files(folder):
            found.files.append(path)
            with path.open(encoding="utf-8", errors="replace") as lines:
                for number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    source = f"{path}:{number}"
                    try:
                        spans = parse_export_request(line, source)
                    except ValueError as error:
                        found.skipped.append(f"{source}: {error}")
                        continue
                    for span in spans:
                        key = (span.trace_id, span.span_id)
                        if key in seen:
                            found.spans[seen[key]] = span
                        else:
                            seen[key] = len(found.spans)
                            found.spans.append(span)
    return found


def parse_export_request(line: str, source: str = "") -> list[Span]:
    """The spans of one line: an OTLP/JSON ExportTraceServiceRequest. ValueError if it is not."""
    try:
        request = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not a complete JSON line ({error.msg}); skipped") from None
    if not isinstance(request, dict) or not isinstance(request.get("resourceSpans"), list):
        raise ValueError("no resourceSpans: not an OTLP/JSON export request; skipped")
    spans = []
    try:
        for resource_spans in request["resourceSpans"]:
            resource = attributes_of(resource_spans.get("resource", {}).get("attributes", []))
            service = str(resource.get("service.name") or UNKNOWN_SERVICE)
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    spans.append(_span(span, service, source))
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"a span without {error} or with a malformed field; skipped") from None
    return spans


def _span(span: dict, service: str, source: str) -> Span:
    status = span.get("status") or {}
    return Span(
        trace_id=_hex_id(span["traceId"], 32),
        span_id=_hex_id(span["spanId"], 16),
        parent_span_id=_hex_id(span["parentSpanId"], 16) if span.get("parentSpanId") else None,
        name=str(span.get("name", "")),
        service=service,
        kind=_enum(span.get("kind", 0), "SPAN_KIND_"),
        start_ns=int(span["startTimeUnixNano"]),
        end_ns=int(span["endTimeUnixNano"]),
        status_code=_enum(status.get("code", 0), "STATUS_CODE_"),
        status_message=str(status.get("message", "")),
        attributes=attributes_of(span.get("attributes", [])),
        events=tuple(
            Event(
                name=str(event.get("name", "")),
                time_ns=int(event.get("timeUnixNano", 0)),
                attributes=attributes_of(event.get("attributes", [])),
            )
            for event in span.get("events", [])
        ),
        links=tuple(
            Link(trace_id=_hex_id(link["traceId"], 32), span_id=_hex_id(link["spanId"], 16))
            for link in span.get("links", [])
        ),
        source=source,
    )


def _hex_id(value: str, length: int) -> str:
    value = str(value).lower()
    if len(value) != length or any(character not in "0123456789abcdef" for character in value):
        raise ValueError(f"id {value!r}: not {length} hex digits")
    return value


_ENUM_NAMES = {
    "SPAN_KIND_": ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"],
    "STATUS_CODE_": ["UNSET", "OK", "ERROR"],
}


def _enum(value: int | str, prefix: str) -> int:
    """An OTLP enum field: an integer as the JSON encoding requires, or the enum value's name."""
    if isinstance(value, str) and value.startswith(prefix):
        return _ENUM_NAMES[prefix].index(value.removeprefix(prefix))
    return int(value)


def attributes_of(key_values: list[dict]) -> dict[str, Any]:
    """OTLP's [{"key": k, "value": {"stringValue": v}}, …] as a plain {k: v}."""
    return {item["key"]: _any_value(item.get("value", {})) for item in key_values}


def _any_value(value: dict) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])  # int64 is a decimal string in OTLP/JSON
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_any_value(item) for item in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes_of(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]  # base64, shown as it is
    return None


def assemble(spans: Iterable[Span]) -> dict[str, Trace]:
    """The traces, newest first; each one's spans by start time."""
    by_trace: dict[str, list[Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    traces = [
        Trace(trace_id, sorted(members, key=lambda span: (span.start_ns, -span.end_ns)))
        for trace_id, members in by_trace.items()
    ]
    traces.sort(key=lambda trace: trace.start_ns, reverse=True)
    return {trace.trace_id: trace for trace in traces}


def waterfall(trace: Trace, traces: dict[str, Trace]) -> list[Row]:
    """The rows of a trace's waterfall, depth first, children by start time. Traces that link
    to this one (an event's consumer, a saga's recovery) hang under the span they link to,
    and traces that link to those under theirs, so one waterfall shows the whole story."""
    linking: dict[str, list[tuple[Span, Link]]] = {}  # trace id -> the spans linking to it
    for other in traces.values():
        for span in other.spans:
            for link in span.links:
                if link.trace_id != other.trace_id:
                    linking.setdefault(link.trace_id, []).append((span, link))
    rows: list[Row] = []
    _add_trace(trace, traces, linking, rows, depth=0, linked_from=None, shown={trace.trace_id})
    return rows


def _add_trace(
    trace: Trace,
    traces: dict[str, Trace],
    linking: dict[str, list[tuple[Span, Link]]],
    rows: list[Row],
    *,
    depth: int,
    linked_from: Span | None,
    shown: set[str],
) -> None:
    ids = {span.span_id for span in trace.spans}
    children: dict[str | None, list[Span]] = {}
    for span in trace.spans:  # in start order, so every child list is too
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    # The spans of other traces that continue a span of this one, by that span's id.
    continued: dict[str, list[Trace]] = {}
    for linking_span, link in linking.get(trace.trace_id, []):
        follower = traces.get(linking_span.trace_id)
        if follower and follower.trace_id not in shown:
            shown.add(follower.trace_id)
            target = link.span_id if link.span_id in ids else trace.root.span_id
            continued.setdefault(target, []).append(follower)

    def add(span: Span, level: int, first: bool) -> None:
        missing = span.parent_span_id if span.parent_span_id not in ids else None
        rows.append(
            Row(
                span=span,
                depth=level,
                missing_parent=missing,
                linked_from=linked_from if first else None,
            )
        )
        for child in children.get(span.span_id, []):
            add(child, level + 1, first=False)
        for follower in sorted(continued.get(span.span_id, []), key=lambda t: t.start_ns):
            _add_trace(
                follower, traces, linking, rows, depth=level + 1, linked_from=span, shown=shown
            )

    for index, top in enumerate(children.get(None, [])):
        add(top, depth, first=index == 0)
