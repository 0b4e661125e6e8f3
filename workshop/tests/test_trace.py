"""`make trace`, on recorded span files (workshop/tests/data/traces/).

`04-services/` is stage 04's traces folder as the stage leaves it: OTLP/JSON export requests,
one per line, each from one process, in the order the processes exported them (children
before their parents, a trace split between the rotated `spans.jsonl.1` and the live
`spans.jsonl`), ending with a half-written line. It holds, starting at 15:00:00 UTC:

- a product read, 2 s before: gateway -> catalog over gRPC (in the rotated file);
- a checkout that is confirmed: gateway -> orders -> inventory, payments, inventory; its
  inventory and payments spans in the rotated file, the rest in the live one;
- a checkout whose payment is declined, 300 ms later: errors on the charge and the order,
  the reservation released; its spans arrived payments first, gateway last;
- the relay publishing the confirmed order's event 900 ms after it, in a trace of its own
  that links to the order's span, and the notifications consumer's span under it;
- a payments span whose parent went with an older file (an orphan).

`sdk/spans.jsonl` was written by the OpenTelemetry SDK 1.45 through the official OTLP/JSON
encoder (opentelemetry-exporter-otlp-json-common 0.66b1), the one the stages use: a server
span with an erroring child that recorded an exception, and a span in another trace that
links to the server span.
"""

import html
import json
import re
from pathlib import Path

import pytest
from shopctl import ShopctlError
from shopctl.commands.trace import bar, milliseconds, trace, tree_prefixes
from shopctl.stages import REPO_ROOT
from shopctl.traces import assemble, parse_export_request, read_span_files

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode

RECORDED = Path(__file__).parent / "data" / "traces" / "04-services"
WRITTEN_BY_THE_SDK = Path(__file__).parent / "data" / "traces" / "sdk"
PRODUCT_READ = "3316348dbadfb7b11c7c2ea235949419"
CHECKOUT = "c7761e58969f7edd498186641b2021e8"
DECLINED = "a8bfacf3bcd75164698d9d70aacd2ce5"
RELAY = "682fbae20f3428bcec4c117c57bea18d"
ORPHAN = "88f6811ab5d8fc6d3177f9b7609ae0fc"


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    """Output to a pipe: rich takes its width from COLUMNS; the same for every machine."""
    monkeypatch.setenv("COLUMNS", "200")


def run_trace(capsys, tmp_path, trace_id=None, folders=(RECORDED,)) -> str:
    assert trace(trace_id, None, folders=list(folders), report_dir=tmp_path / "reports") == 0
    return capsys.readouterr().out


def table_lines(output: str) -> list[str]:
    """The waterfall's rows: from the line after its header to the first line that is not one."""
    lines = output.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("service "))
    end = next(
        index
        for index, line in enumerate(lines[start + 1 :], start + 1)
        if not line or line.startswith("»")
    )
    return lines[start + 1 : end]


def cells(output: str) -> list[dict[str, str]]:
    """The waterfall's rows cut into columns at the places its header gives them."""
    header = next(line for line in output.splitlines() if line.startswith("service "))
    operation = header.index("operation")
    start = header.index(" start") - 3  # right-aligned in 9 characters
    status = start + 20  # start (9), duration (9), a blank each
    return [
        {
            "service": row[:operation].rstrip(),
            "operation": row[operation:start].rstrip(),
            "start": row[start : start + 9].strip(),
            "duration": row[start + 10 : start + 19].strip(),
            "status": row[status : status + 5].strip(),
            "bar": row[status + 6 :],
        }
        for row in table_lines(output)
    ]


# ---- The list ------------------------------------------------------------------------------


def test_the_list_shows_every_trace_newest_first_one_line_each(capsys, tmp_path):
    output = run_trace(capsys, tmp_path)

    ids = re.findall(r"\b[0-9a-f]{32}\b", output)
    assert ids == [RELAY, DECLINED, CHECKOUT, PRODUCT_READ, ORPHAN]
    declined = next(line for line in output.splitlines() if DECLINED in line)
    assert re.search(
        r"ERROR \(4\)\s+25\.0 ms\s+9 POST api/orders/\s+"
        r"shop-04: gateway, orders, inventory, payments$",
        declined,
    ), declined
    checkout = next(line for line in output.splitlines() if CHECKOUT in line)
    # Its spans straddle the rotated and the live file: all 11 are counted.
    assert re.search(r" ok\s+42\.0 ms\s+11 POST api/orders/ ", checkout), checkout


def test_the_list_marks_a_trace_that_continues_another_and_one_without_its_root(capsys, tmp_path):
    lines = run_trace(capsys, tmp_path).splitlines()

    relay = next(line for line in lines if RELAY in line)
    assert "shop.events publish" in relay
    assert relay.endswith(f"[continues {CHECKOUT[:8]}]")
    orphan = next(line for line in lines if ORPHAN in line)
    assert orphan.endswith("[root span missing]")


def test_a_half_written_last_line_is_skipped_and_named(capsys, tmp_path):
    output = run_trace(capsys, tmp_path)

    assert "1 line(s) skipped" in output
    assert re.search(r"spans\.jsonl:10: not a complete JSON line", output)


# ---- The waterfall -------------------------------------------------------------------------


def test_the_waterfall_nests_each_span_under_its_parent_across_both_files(capsys, tmp_path):
    rows = cells(run_trace(capsys, tmp_path, CHECKOUT))

    assert [(row["service"], row["operation"]) for row in rows[:11]] == [
        ("gateway", "POST api/orders/"),
        ("gateway", "└─ /shop.orders.v1.OrdersService/PlaceOrder"),
        ("orders", "   └─ /shop.orders.v1.OrdersService/PlaceOrder"),
        ("orders", "      ├─ /shop.inventory.v1.InventoryService/Reserve"),
        ("inventory", "      │  └─ /shop.inventory.v1.InventoryService/Reserve"),
        ("inventory", "      │     └─ SELECT"),
        ("orders", "      ├─ /shop.payments.v1.PaymentsService/CreateCharge"),
        ("payments", "      │  └─ /shop.payments.v1.PaymentsService/CreateCharge"),
        ("orders", "      ├─ /shop.inventory.v1.InventoryService/Commit"),
        ("inventory", "      │  └─ /shop.inventory.v1.InventoryService/Commit"),
        ("orders", "      ├─ INSERT"),
    ]


def test_the_waterfall_shows_start_duration_and_a_bar_on_the_traces_timeline(capsys, tmp_path):
    output = run_trace(capsys, tmp_path, CHECKOUT)
    rows = cells(output)

    header = next(line for line in output.splitlines() if line.startswith("service "))
    assert header.endswith("0 to 42.0 ms")
    assert output.splitlines()[3] == "(service names are short for shop-04.<name>)"
    assert (rows[0]["start"], rows[0]["duration"], rows[0]["bar"]) == (
        "0.00 ms",
        "42.0 ms",
        "█" * 40,
    )
    payments = rows[7]  # the payments service's CreateCharge: 10.6 ms in, 19.6 ms long
    assert (payments["start"], payments["duration"]) == ("10.6 ms", "19.6 ms")
    assert payments["bar"] == " " * 10 + "█" * 19


def test_an_events_consumer_in_a_linked_trace_hangs_under_the_span_it_continues(capsys, tmp_path):
    output = run_trace(capsys, tmp_path, CHECKOUT)
    rows = cells(output)

    assert output.startswith(
        f"Trace {CHECKOUT}: POST api/orders/, ok, 42.0 ms, 11 spans from 4 services; "
        "and 3 spans of 1 linked trace"
    )
    relay, consumer, email = rows[11:]
    # Under the orders service's PlaceOrder, the span its link names: one level below it.
    assert relay["service"] == "orders-relay"
    assert relay["operation"] == f"      └─ shop.events publish [linked trace {RELAY[:8]}]"
    assert (consumer["service"], consumer["operation"]) == (
        "notifications",
        "         └─ shop.notifications process",
    )
    assert email["operation"] == "            └─ send confirmation email"
    # After the checkout's own end: drawn at the timeline's end; the outbox's delay in start.
    assert [row["start"] for row in (relay, consumer, email)] == ["900.0 ms", "1.45 s", "1.45 s"]
    assert all(row["bar"] == " " * 39 + "»" for row in (relay, consumer, email))
    assert (
        "» ran on after the request's 42.0 ms: the last span ended 1.46 s after it began" in output
    )


def test_children_that_end_after_the_request_are_drawn_past_its_timeline(capsys, tmp_path):
    # The relay's publish and the consumer's handling as children of the request (the outbox
    # row kept its traceparent): the request still lasts 10 ms, they run on after it.
    trace_id = "cd" * 16
    request = span(trace_id, span_id="01" * 8, end=10_000_000)
    query = {**span(trace_id, span_id="02" * 8, end=5_000_000), "parentSpanId": "01" * 8}
    publish = {
        **span(trace_id, span_id="03" * 8, end=503_000_000),
        "startTimeUnixNano": "500000000",
        "parentSpanId": "01" * 8,
        "name": "order.confirmed publish",
    }
    (tmp_path / "spans.jsonl").write_text(
        export_request("shop-04.gateway", [request, query]) + "\n"
        + export_request("shop-04.orders-relay", [publish]) + "\n"
    )  # fmt: skip

    listed = run_trace(capsys, tmp_path, folders=[tmp_path])
    output = run_trace(capsys, tmp_path, trace_id, folders=[tmp_path])

    assert re.search(rf"{trace_id} ok\s+10\.0 ms\s+3 GET api/health/", listed), listed
    rows = cells(output)
    assert [row["bar"] for row in rows] == ["█" * 40, "█" * 20, " " * 39 + "»"]
    assert rows[2]["start"] == "500.0 ms"
    assert "the last span ended 503.0 ms after it began" in output


def test_an_error_trace_marks_each_failed_span_and_says_why(capsys, tmp_path):
    output = run_trace(capsys, tmp_path, DECLINED)
    rows = cells(output)

    assert [
        (row["service"], row["operation"].lstrip(" │└├─")) for row in rows if row["status"]
    ] == [
        ("gateway", "/shop.orders.v1.OrdersService/PlaceOrder"),
        ("orders", "/shop.orders.v1.OrdersService/PlaceOrder"),
        ("orders", "/shop.payments.v1.PaymentsService/CreateCharge"),
        ("payments", "/shop.payments.v1.PaymentsService/CreateCharge"),
    ]
    assert {row["status"] for row in rows} == {"ERROR", ""}
    # The compensation that followed, in its place in the tree: after the failed charge.
    assert rows[-2]["operation"] == "      └─ /shop.inventory.v1.InventoryService/Release"
    assert rows[-2]["start"] == "16.5 ms"
    errors = output[output.index("Errors:") :]
    assert "shop-04.orders /shop.orders.v1.OrdersService/PlaceOrder: " in errors
    assert "PaymentDeclined: the card was declined" in errors  # from the exception event
    assert "payment declined: tok_chargeDeclined" in errors  # from the status message


def test_spans_in_any_order_give_the_same_waterfall(capsys, tmp_path):
    # The declined checkout arrived payments first and gateway last; reversed line by line
    # and written as one file, it must draw the same rows.
    reversed_folder = tmp_path / "reversed"
    reversed_folder.mkdir()
    lines = [
        line
        for name in ("spans.jsonl.1", "spans.jsonl")
        for line in (RECORDED / name).read_text().splitlines()
        if DECLINED in line
    ]
    (reversed_folder / "spans.jsonl").write_text("\n".join(reversed(lines)) + "\n")

    recorded = table_lines(run_trace(capsys, tmp_path, DECLINED))
    shuffled = table_lines(run_trace(capsys, tmp_path, DECLINED, folders=[reversed_folder]))

    assert shuffled == recorded
    assert len(recorded) == 9


def test_an_orphan_is_drawn_at_the_top_level_and_marked(capsys, tmp_path):
    [row] = cells(run_trace(capsys, tmp_path, ORPHAN))

    assert row["service"] == "payments"
    assert re.fullmatch(
        r"/shop\.payments\.v1\.PaymentsService/GetCharge "
        r"\[orphan: parent [0-9a-f]{8} not in the files\]",
        row["operation"],
    )


def test_last_is_the_newest_request_not_the_newest_trace(capsys, tmp_path):
    # The relay's trace is newer, but it continues the confirmed checkout: the newest trace
    # a request started is the declined checkout.
    output = run_trace(capsys, tmp_path, "last")

    assert output.startswith(f"Trace {DECLINED}: ")


def test_a_unique_prefix_of_the_id_is_enough_and_case_does_not_matter(capsys, tmp_path):
    output = run_trace(capsys, tmp_path, CHECKOUT[:8].upper())

    assert output.startswith(f"Trace {CHECKOUT}: ")


def test_the_html_page_holds_the_same_waterfall_and_fetches_nothing(capsys, tmp_path):
    output = run_trace(capsys, tmp_path, DECLINED)

    page_path = tmp_path / "reports" / f"trace-{DECLINED}.html"
    assert f"as a page to open in a browser: {page_path}" in output
    page = page_path.read_text()
    # Self-contained: no stylesheet, script, image or font from anywhere.
    assert not re.search(r"<(script|link|img|iframe)\b|url\(|@import|src=", page)
    spans = re.findall(r'<details class="span( error)?">.*?</details>', page, re.DOTALL)
    assert len(spans) == 9
    assert [bool(error) for error in spans] == [False, True, True, False, False, True, True,
                                                False, False]  # fmt: skip
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "PaymentDeclined: the card was declined" in text
    assert "attribute http.response.status_code 402" in re.sub(r"\s+", " ", text)
    assert "shop-04.inventory" in text


# ---- When there is nothing to show ---------------------------------------------------------


def test_no_span_files_yet_says_where_it_looked_and_how_to_get_traces(tmp_path, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    empty = tmp_path / "04-services" / "traces"

    with pytest.raises(ShopctlError) as error:
        trace(None, None, folders=[empty], report_dir=tmp_path)

    message = str(error.value)
    assert f"looked in {empty}/" in message
    assert "make run STAGE=04" in message and "X-Trace-Id" in message


def test_no_span_files_with_a_collector_configured_says_where_the_spans_went(tmp_path, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")

    with pytest.raises(ShopctlError, match="sends its spans there \\(Jaeger\\)"):
        trace(None, None, folders=[tmp_path], report_dir=tmp_path)


def test_an_unknown_trace_id_names_the_files_it_searched(tmp_path):
    with pytest.raises(ShopctlError) as error:
        trace("0123456789abcdef0123456789abcdef", None, folders=[RECORDED], report_dir=tmp_path)

    message = str(error.value)
    assert "no trace 0123456789abcdef0123456789abcdef in " in message
    folder = RECORDED.relative_to(REPO_ROOT)  # shown relative to the repository
    assert f"{folder / 'spans.jsonl.1'}, {folder / 'spans.jsonl'}" in message
    assert "(5 traces there" in message


@pytest.mark.parametrize("wanted", ["123", "not-a-trace-id", "4bf92f35-1234"])
def test_an_id_that_is_not_one_is_refused_with_what_would_do(tmp_path, wanted):
    with pytest.raises(ShopctlError, match="is not a trace id: give the 32 hex digits"):
        trace(wanted, None, folders=[RECORDED], report_dir=tmp_path)


def test_a_prefix_shared_by_two_traces_asks_for_more(tmp_path):
    folder = tmp_path / "traces"
    folder.mkdir()
    lines = [export_request("shop-04.gateway", [span("ab" * 16), span("ab" * 15 + "cd")])]
    (folder / "spans.jsonl").write_text("\n".join(lines) + "\n")

    with pytest.raises(ShopctlError, match="2 traces start with abababab"):
        trace("abababab", None, folders=[folder], report_dir=tmp_path)


def test_files_with_nothing_but_a_half_line_say_so(tmp_path):
    (tmp_path / "spans.jsonl").write_text('{"resourceSpans": [{"resou')

    with pytest.raises(ShopctlError, match="the span files hold no complete span yet"):
        trace(None, None, folders=[tmp_path], report_dir=tmp_path)


# ---- Reading the files ---------------------------------------------------------------------


def test_the_rotated_file_is_read_first_and_a_span_in_both_is_kept_once(tmp_path):
    old = span("ab" * 16, span_id="01" * 8, end=2_000_000)
    new = span("ab" * 16, span_id="01" * 8, end=9_000_000)  # the same span, re-exported
    (tmp_path / "spans.jsonl.1").write_text(export_request("shop-04.gateway", [old]) + "\n")
    (tmp_path / "spans.jsonl").write_text(export_request("shop-04.gateway", [new]) + "\n")

    found = read_span_files([tmp_path])

    assert found.files == [tmp_path / "spans.jsonl.1", tmp_path / "spans.jsonl"]
    [kept] = found.spans
    assert kept.end_ns == 9_000_000


def test_an_export_request_in_the_otlp_json_encoding_is_read_field_by_field():
    line = export_request(
        "shop-03.proxy",
        [
            {
                **span("4BF92F3577B34DA6A3CE929D0E0E4736", span_id="00F067AA0BA902B7"),
                "parentSpanId": "",  # what some writers put on a root span
                "kind": "SPAN_KIND_CLIENT",  # the enum's name instead of its number
                "status": {"code": 2, "message": "upstream timed out"},
                "attributes": [
                    {"key": "http.response.status_code", "value": {"intValue": "504"}},
                    {"key": "retried", "value": {"boolValue": True}},
                    {"key": "hosts", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
                ],
                "links": [{"traceId": "11" * 16, "spanId": "22" * 8}],
            }
        ],
    )

    [parsed] = parse_export_request(line)

    assert parsed.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parsed.span_id == "00f067aa0ba902b7"
    assert parsed.parent_span_id is None
    assert (parsed.service, parsed.kind_name, parsed.is_error) == ("shop-03.proxy", "client", True)
    assert parsed.attributes == {"http.response.status_code": 504, "retried": True, "hosts": ["a"]}
    assert parsed.links[0].trace_id == "11" * 16


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"resourceSpans": [', "not a complete JSON line"),
        ('{"resource": {}}', "no resourceSpans"),
    ],
)
def test_a_line_that_is_not_an_export_request_is_refused_with_why(line, reason):
    with pytest.raises(ValueError, match=reason):
        parse_export_request(line)


def test_a_span_with_a_malformed_id_is_refused():
    line = export_request("shop-04.gateway", [span("not-hex")])

    with pytest.raises(ValueError, match="malformed"):
        parse_export_request(line)


def test_what_the_sdks_own_encoder_writes_is_read(capsys, tmp_path):
    output = run_trace(capsys, tmp_path, "last", folders=[WRITTEN_BY_THE_SDK])

    assert output.startswith(
        "Trace 2d0951a2345a1b0884d2ba36475efd22: POST api/orders/, ERROR, 0.53 ms, 2 spans "
        "from 1 service; and 1 span of 1 linked trace"
    )
    assert [(row["operation"], row["status"]) for row in cells(output)] == [
        ("POST api/orders/", ""),
        ("├─ child", "ERROR"),
        ("└─ linked [linked trace b3f4bbed]", ""),
    ]
    assert "shop-04.gateway child: boom" in output


def test_traces_are_assembled_newest_first_with_their_spans_by_start():
    traces = assemble(read_span_files([RECORDED]).spans)

    assert list(traces) == [RELAY, DECLINED, CHECKOUT, PRODUCT_READ, ORPHAN]
    starts = [span.start_ns for span in traces[CHECKOUT].spans]
    assert starts == sorted(starts)
    assert traces[CHECKOUT].root.name == "POST api/orders/"
    assert traces[RELAY].linked_traces == [CHECKOUT]


# ---- The drawing -------------------------------------------------------------------------


def test_tree_prefixes_close_each_level_at_its_last_child():
    #  a            depth 0
    #  ├─ b         1
    #  │  └─ c      2
    #  └─ d         1
    #     ├─ e      2
    #     └─ f      2
    assert tree_prefixes([0, 1, 2, 1, 2, 2]) == ["", "├─ ", "│  └─ ", "└─ ", "   ├─ ", "   └─ "]


@pytest.mark.parametrize(
    ("offset", "duration", "drawn"),
    [
        (0, 100, "██████████"),
        (50, 10, "     █"),
        (99, 0, "         █"),  # a span too short to see still gets one block
        (95, 20, "         »"),  # runs past the end
        (300, 5, "         »"),  # starts after the end (a linked trace, later)
    ],
)
def test_a_bar_sits_where_the_span_ran_on_the_timeline(offset, duration, drawn):
    assert bar(offset, duration, 100, width=10) == drawn


@pytest.mark.parametrize(
    ("nanoseconds", "shown"),
    [(420_000, "0.42 ms"), (12_345_678, "12.3 ms"), (1_450_000_000, "1.45 s")],
)
def test_durations_read_in_the_unit_that_fits(nanoseconds, shown):
    assert milliseconds(nanoseconds) == shown


# ---- Building span files -------------------------------------------------------------------


def span(trace_id: str, *, span_id: str = "aa" * 8, end: int = 1_000_000) -> dict:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "GET api/health/",
        "kind": 2,
        "startTimeUnixNano": "0",
        "endTimeUnixNano": str(end),
    }


def export_request(service: str, spans: list[dict]) -> str:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    scope_spans = [{"scope": {"name": "test"}, "spans": spans}]
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": scope_spans}]})
