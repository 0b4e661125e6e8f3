"""`shopctl trace`: the recent traces of the stages, or one trace's waterfall in the terminal
and as an HTML page, read from the span files the stages write under var/ (no server needed).

    make trace                     the recent traces, newest first, one line each
    make trace ID=<trace id>       that trace's waterfall (the first 8 or more hex digits do)
    make trace ID=last             the waterfall of the newest request
    make trace STAGE=04 ...        only stage 04's span file
"""

import html
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.text import Text

from shopctl import ShopctlError
from shopctl.env import VAR_DIR
from shopctl.stages import REPO_ROOT, all_stages, find_stage
from shopctl.traces import (
    ROTATED_SPAN_FILE,
    SPAN_FILE,
    SPAN_KIND_SERVER,
    Row,
    SpanFiles,
    Trace,
    assemble,
    read_span_files,
    waterfall,
)

TRACES_FOLDER = "traces"  # under a stage's var dir: var/<stage>/traces/spans.jsonl
LISTED = 25  # the list shows this many of the newest traces
BAR_WIDTH = 40  # characters of the terminal waterfall's timeline
MIN_BAR_WIDTH = 20  # on a narrow terminal
MIN_ID_PREFIX = 8  # `make trace ID=4bf92f35` is enough when only one trace starts so
LAST = "last"


def trace(
    trace_id: str | None,
    stage_number: str | None,
    *,
    folders: list[Path] | None = None,
    report_dir: Path = VAR_DIR / "reports",
) -> int:
    """List the recent traces (no trace_id), or draw one; folders replace the stages' own."""
    if folders is None:
        stages = [find_stage(stage_number)] if stage_number else all_stages()
        folders = [VAR_DIR / stage.name / TRACES_FOLDER for stage in stages]
    found = read_span_files(folders)
    if not found.files:
        raise ShopctlError(_no_files(found))
    traces = assemble(found.spans)
    if not traces:
        raise ShopctlError(
            f"the span files hold no complete span yet: {_names(found.files)}. Send the "
            "stage a request, wait a second (spans are written in batches) and try again."
        )
    console = _console()
    if trace_id is None:
        list_traces(console, traces, found)
    else:
        chosen = find_trace(traces, trace_id, found)
        rows = waterfall(chosen, traces)
        print_waterfall(console, chosen, rows, found)
        page = report_dir / f"trace-{chosen.trace_id}.html"
        report_dir.mkdir(parents=True, exist_ok=True)
        page.write_text(html_page(chosen, rows), encoding="utf-8")
        console.print(f"\nThe same waterfall as a page to open in a browser: {page}")
    _print_skipped(console, found)
    return 0


def find_trace(traces: dict[str, Trace], wanted: str, found: SpanFiles) -> Trace:
    """The trace named by its id, by the first 8 or more hex digits of it, or `last`: the
    newest trace a request started (a trace that continues another, such as an event's
    consumer, is shown inside that one's waterfall instead)."""
    wanted = wanted.strip().lower()
    if wanted == LAST:
        requests = [
            trace
            for trace in traces.values()
            if trace.root.kind == SPAN_KIND_SERVER and not trace.linked_traces
        ]
        return (requests or list(traces.values()))[0]
    if len(wanted) < MIN_ID_PREFIX or any(c not in "0123456789abcdef" for c in wanted):
        raise ShopctlError(
            f"ID={wanted!r} is not a trace id: give the 32 hex digits of one (the X-Trace-Id "
            f"header of a response), the first {MIN_ID_PREFIX} or more of them, or ID=last"
        )
    matches = [trace for trace_id, trace in traces.items() if trace_id.startswith(wanted)]
    if len(matches) > 1:
        raise ShopctlError(
            f"{len(matches)} traces start with {wanted}: "
            f"{', '.join(trace.trace_id for trace in matches)}; give more of the id"
        )
    if not matches:
        raise ShopctlError(
            f"no trace {wanted} in {_names(found.files)} ({len(traces)} traces there, the "
            "oldest dropped as the files rotate). `make trace` lists them; a trace of another "
            "stage needs STAGE=NN or none, and spans sent to a collector "
            "(OTEL_EXPORTER_OTLP_ENDPOINT) are in Jaeger, not in these files."
        )
    return matches[0]


def list_traces(console: Console, traces: dict[str, Trace], found: SpanFiles) -> None:
    """One line per trace, newest first: the columns that identify it, then the ones that
    may be cut short on a narrow terminal."""
    shown = list(traces.values())[:LISTED]
    console.print(
        Text(
            f"The {len(shown)} newest of {len(traces)} traces in {_names(found.folders)}, "
            "newest first. `make trace ID=<trace id>` draws one, `make trace ID=last` the "
            "newest request.\n"
        )
    )
    operation_width = min(40, max(len(item.root.name) for item in shown))
    header = (
        f"{'started':<12} {'trace id':<32} {'status':<9} {'duration':>9} {'spans':>5} "
        f"{'root operation':<{operation_width}} services"
    )
    _line(console, header, "bold")
    for item in shown:
        notes = [] if item.has_root else ["root span missing"]
        notes += [f"continues {trace_id[:8]}" for trace_id in item.linked_traces]
        status = f"ERROR ({len(item.errors)})" if item.errors else "ok"
        line = (
            f"{_clock(item.start_ns)} {item.trace_id} {status:<9} "
            f"{milliseconds(item.request_duration_ns):>9} {len(item.spans):>5} "
            f"{fit(item.root.name, operation_width)} {_services(item.services)}"
        )
        _line(console, line + "".join(f" [{note}]" for note in notes), "red" * bool(item.errors))


def print_waterfall(console: Console, chosen: Trace, rows: list[Row], found: SpanFiles) -> None:
    """One line per span: service, operation indented by parent, start, duration, a bar. The
    timeline spans the request (the root span); spans that ran on after it (an event's
    publish and its consumer, a linked trace) get `»` at its end, and their start column says
    how much later."""
    start, total = chosen.start_ns, chosen.request_duration_ns
    linked = {row.span.trace_id for row in rows} - {chosen.trace_id}
    errors = [row.span for row in rows if row.span.is_error]
    summary = (
        f"Trace {chosen.trace_id}: {chosen.root.name}, {'ERROR' if errors else 'ok'}, "
        f"{milliseconds(total)}, {_count(len(chosen.spans), 'span')} from "
        f"{_count(len(chosen.services), 'service')}"
    )
    if linked:
        later = len(rows) - len(chosen.spans)
        summary += f"; and {_count(later, 'span')} of {_count(len(linked), 'linked trace')}"
    console.print(Text(summary, style="bold"))
    console.print(Text(f"read from {_names(found.files)}; started {_clock(start)}\n"))

    # shop-04.gateway, shop-04.orders, ...: the shared prefix once, in the header.
    prefix = _shared_prefix([row.span.service for row in rows])
    service_width = max(len("service"), *(len(row.span.service) - len(prefix) for row in rows))
    operations = [
        prefix + row.span.name + "".join(f" [{note}]" for note in row_notes(row))
        for prefix, row in zip(tree_prefixes([row.depth for row in rows]), rows, strict=True)
    ]
    # The operation gets what the other columns leave of the terminal's width.
    fixed = service_width + 9 + 9 + 6 + 4
    bar_width = BAR_WIDTH if console.width - fixed - BAR_WIDTH >= 30 else MIN_BAR_WIDTH
    operation_width = max(16, min(max(map(len, operations)), console.width - fixed - bar_width))
    if prefix:
        console.print(Text(f"(service names are short for {prefix}<name>)"))
    _line(
        console,
        f"{'service':<{service_width}} {'operation':<{operation_width}} {'start':>9} "
        f"{'duration':>9} {'':5} 0 to {milliseconds(total)}",
        "bold",
    )
    for operation, row in zip(operations, rows, strict=True):
        span = row.span
        service = span.service.removeprefix(prefix)
        line = (
            f"{service:<{service_width}} {fit(operation, operation_width)} "
            f"{milliseconds(span.start_ns - start):>9} {milliseconds(span.duration_ns):>9} "
            f"{'ERROR' if span.is_error else '':5} "
            f"{bar(span.start_ns - start, span.duration_ns, total, bar_width)}"
        )
        _line(console, line, "red" * span.is_error)
    last_end = max(row.span.end_ns for row in rows)
    if last_end > chosen.request_end_ns:
        console.print(
            f"» ran on after the request's {milliseconds(total)}: the last span ended "
            f"{milliseconds(last_end - start)} after it began"
        )
    if errors:
        console.print(Text("\nErrors:", style="bold"))
        for span in errors:
            reason = span.error_summary() or "no message recorded"
            console.print(Text(f"  {span.service} {span.name}: {reason}"))


def fit(text: str, width: int) -> str:
    """Exactly `width` characters: padded, or cut with an ellipsis."""
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def _line(console: Console, line: str, style: str) -> None:
    """A line of a table: cut at the terminal's edge rather than wrapped into the next row."""
    console.print(Text(line.rstrip(), style=style), no_wrap=True, overflow="ellipsis", crop=True)


def row_notes(row: Row) -> list[str]:
    """What the operation column says about a span besides its name."""
    notes = []
    if row.missing_parent:
        notes.append(f"orphan: parent {row.missing_parent[:8]} not in the files")
    if row.linked_from is not None:  # drawn under the span it links to
        notes.append(f"linked trace {row.span.trace_id[:8]}")
    return notes


def tree_prefixes(depths: list[int]) -> list[str]:
    """The `├─ ` / `└─ ` / `│  ` drawing in front of each row of a depth-first list."""
    prefixes = []
    for index, depth in enumerate(depths):
        parts = []
        for level in range(1, depth + 1):
            more = False  # does a sibling at this level follow, before the level closes?
            for later in depths[index + 1 :]:
                if later <= level:
                    more = later == level
                    break
            if level == depth:
                parts.append("├─ " if more else "└─ ")
            else:
                parts.append("│  " if more else "   ")
        prefixes.append("".join(parts))
    return prefixes


def bar(offset_ns: int, duration_ns: int, total_ns: int, width: int = BAR_WIDTH) -> str:
    """The span's place on a timeline of `width` characters for 0..total_ns: blanks up to its
    start, then at least one block; `»` at the end when it runs past the timeline."""
    if total_ns <= 0:
        return "█"
    begin = min(width - 1, int(offset_ns / total_ns * width))
    end = offset_ns + duration_ns
    if end > total_ns:
        return " " * begin + "█" * max(0, width - 1 - begin) + "»"
    length = max(1, round(end / total_ns * width) - begin)
    return " " * begin + "█" * min(length, width - begin)


def milliseconds(nanoseconds: int) -> str:
    value = nanoseconds / 1e6
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def html_page(chosen: Trace, rows: list[Row]) -> str:
    """The waterfall as one HTML file with nothing to fetch: styles inline, no script (a span's
    details open with <details>), so it opens from disk, offline, and can be mailed around."""
    start, total = chosen.start_ns, chosen.request_duration_ns  # the terminal's timeline
    services = list(dict.fromkeys(row.span.service for row in rows))
    errors = [row.span for row in rows if row.span.is_error]
    escape = html.escape
    lines = []
    for prefix, row in zip(tree_prefixes([row.depth for row in rows]), rows, strict=True):
        span = row.span
        left = min((span.start_ns - start) / total * 100, 99.0)
        width = max(min(span.duration_ns / total * 100, 100 - left), 0.3)
        later = span.end_ns > chosen.request_end_ns  # past the timeline: to its end, `»`
        colour = services.index(span.service) % len(PALETTE)
        notes = "".join(f' <em class="note">[{escape(note)}]</em>' for note in row_notes(row))
        details = [
            ("kind", span.kind_name),
            ("span id", span.span_id),
            ("parent span id", span.parent_span_id or "none (a root)"),
            ("trace id", span.trace_id),
            ("status", "ERROR: " + span.error_summary() if span.is_error else "ok"),
            *((f"attribute {key}", value) for key, value in sorted(span.attributes.items())),
            *(
                (f"event at {milliseconds(event.time_ns - start)}", _event(event))
                for event in span.events
            ),
            *(("link", f"trace {link.trace_id} span {link.span_id}") for link in span.links),
            ("read from", span.source),
        ]
        detail_rows = "".join(
            f"<tr><th>{escape(key)}</th><td>{escape(str(value))}</td></tr>"
            for key, value in details
        )
        lines.append(
            f'<details class="span{" error" * span.is_error}"><summary>'
            f'<span class="service">{escape(span.service)}</span>'
            f'<span class="name"><span class="tree">{escape(prefix)}</span>'
            f"{escape(span.name)}{notes}</span>"
            f'<span class="num">{milliseconds(span.start_ns - start)}</span>'
            f'<span class="num">{milliseconds(span.duration_ns)}</span>'
            f'<span class="track"><span class="bar c{colour}{" later" * later}" '
            f'style="left:{left:.3f}%;width:{width:.3f}%"></span>{"»" * later}</span>'
            f"</summary><table>{detail_rows}</table></details>"
        )
    error_list = "".join(
        f"<li>{escape(span.service)} {escape(span.name)}: "
        f"{escape(span.error_summary() or 'no message recorded')}</li>"
        for span in errors
    )
    legend = "".join(
        f'<span class="legend"><span class="swatch c{index % len(PALETTE)}"></span>'
        f"{escape(service)}</span>"
        for index, service in enumerate(services)
    )
    started = datetime.fromtimestamp(start / 1e9, tz=UTC).isoformat(timespec="milliseconds")
    return PAGE.format(
        title=escape(f"{chosen.root.name} · trace {chosen.trace_id}"),
        heading=escape(chosen.root.name),
        trace_id=chosen.trace_id,
        status="ERROR" if errors else "ok",
        duration=milliseconds(total),
        span_count=len(rows),
        started=started,
        legend=legend,
        errors=f"<h2>Errors</h2><ul>{error_list}</ul>" if errors else "",
        total=milliseconds(total),
        rows="\n".join(lines),
        palette="".join(
            f".c{index}{{background:{colour}}}" for index, colour in enumerate(PALETTE)
        ),
    )


def _event(event) -> str:
    attributes = ", ".join(f"{key}={value}" for key, value in event.attributes.items())
    return f"{event.name} {attributes}".strip()


PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#9d755d", "#72b7b2", "#eeca3b"]
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.3em; margin-bottom: 0.2em; }}
.meta {{ color: #555; margin-top: 0; }}
code, .name, .num {{ font-family: ui-monospace, monospace; font-size: 13px; }}
summary {{ display: grid; grid-template-columns: 11em minmax(20em, 2fr) 6em 6em 3fr;
  gap: 0.6em; align-items: center; cursor: pointer; padding: 1px 0; list-style: none; }}
summary::-webkit-details-marker {{ display: none; }}
summary:hover {{ background: #f3f3f3; }}
.header {{ display: grid; grid-template-columns: 11em minmax(20em, 2fr) 6em 6em 3fr;
  gap: 0.6em; font-weight: bold; border-bottom: 1px solid #ccc; }}
.service {{ color: #555; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }}
.name {{ white-space: pre; overflow: hidden; text-overflow: ellipsis; }}
.tree {{ color: #999; }}
.num {{ text-align: right; }}
.track {{ position: relative; height: 0.9em; background: #f7f7f7; }}
.bar {{ position: absolute; top: 0; bottom: 0; min-width: 2px; border-radius: 2px; }}
.error summary {{ color: #b00020; font-weight: bold; }}
.error .bar {{ outline: 2px solid #b00020; }}
.track {{ text-align: right; font-size: 11px; line-height: 0.9em; }}
.later {{ opacity: 0.5; }}
.note {{ color: #8a6d00; font-style: normal; }}
details table {{ margin: 0.3em 0 0.8em 12em; border-collapse: collapse; font-size: 13px; }}
details th {{ text-align: left; padding-right: 1em; color: #555; font-weight: normal; }}
details td {{ font-family: ui-monospace, monospace; word-break: break-all; }}
.legend {{ margin-right: 1.2em; white-space: nowrap; }}
.swatch {{ display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.3em; }}
{palette}
</style>
</head>
<body>
<h1>{heading}</h1>
<p class="meta">trace <code>{trace_id}</code> · <strong>{status}</strong> · {duration} ·
{span_count} spans · started {started} · click a span for its attributes</p>
<p>{legend}</p>
{errors}
<div class="header"><span>service</span><span>operation</span><span class="num">start</span>
<span class="num">duration</span><span>0 … {total}</span></div>
{rows}
<p class="meta">The timeline spans the request (the root span). A span marked » ran on after
it: an event's publish or handling, or a linked trace that continued this one later (its
start column says when).</p>
</body>
</html>
"""


def _console() -> Console:
    # A pipe or a test gets no terminal width (rich would assume 80 and wrap every row).
    width = None if sys.stdout.isatty() else shutil.get_terminal_size((160, 40)).columns
    return Console(file=sys.stdout, width=width, highlight=False)


def _print_skipped(console: Console, found: SpanFiles) -> None:
    if not found.skipped:
        return
    console.print(
        f"\nnote: {len(found.skipped)} line(s) skipped (a process may be writing the last "
        "line of a file right now):",
        highlight=False,
    )
    for problem in found.skipped:
        console.print(f"  {_relative(problem)}", highlight=False, soft_wrap=True)


def _no_files(found: SpanFiles) -> str:
    where = ", ".join(f"{_relative(str(folder))}/" for folder in found.folders) or "(no stage)"
    message = (
        f"no span files yet ({SPAN_FILE} or {ROTATED_SPAN_FILE}); looked in {where}. A stage "
        "writes them while it runs: `make run STAGE=04`, send it a request (`curl -i "
        "http://127.0.0.1:8000/api/products/1/` shows the X-Trace-Id header), then `make "
        "trace`."
    )
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        message += " OTEL_SDK_DISABLED=true is set here: a stage started with it traces nothing."
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        message += (
            f" OTEL_EXPORTER_OTLP_ENDPOINT={os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']} is set "
            "here: a stage started with it sends its spans there (Jaeger), not to files."
        )
    return message


def _names(paths: list[Path]) -> str:
    return ", ".join(_relative(str(path)) for path in paths)


def _relative(text: str) -> str:
    """Paths under the repository, relative to it: var/04-services/traces/spans.jsonl."""
    return text.replace(f"{REPO_ROOT}{os.sep}", "")


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}{'s' * (number != 1)}"


def _clock(nanoseconds: int) -> str:
    """Local wall-clock time, as the learner's terminal and logs show it."""
    return datetime.fromtimestamp(nanoseconds / 1e9).strftime("%H:%M:%S.%f")[:-3]


def _services(services: list[str]) -> str:
    """`shop-04: gateway, orders` for shop-04.gateway and shop-04.orders; else the full names."""
    prefix = _shared_prefix(services)
    if prefix:
        return f"{prefix[:-1]}: " + ", ".join(s.removeprefix(prefix) for s in services)
    return ", ".join(services)


def _shared_prefix(services: list[str]) -> str:
    """`shop-04.` when every service name is `shop-04.<process>`, else ``."""
    prefixes = {service.partition(".")[0] for service in services}
    if len(prefixes) == 1 and all("." in service for service in services):
        return prefixes.pop() + "."
    return ""
