"""Contract of tracing: every response names its trace (X-Trace-Id), and that trace holds what
the request did in every process of the stage, read back from the stage's span file.

The second half reads `$SHOP_VAR_DIR/traces/spans.jsonl` (`make test` sets SHOP_VAR_DIR; with
`make run` it is var/<stage>/): the OTLP/JSON lines every process of the stage appends.
"""

import json
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from support import Shop, expect

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
REPO_ROOT = Path(__file__).resolve().parents[2]
SPANS_WAIT_SECONDS = 20  # spans reach the file within a second or two; an event takes longer
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # OTLP's SpanKind numbers

# Stage 03's monolith reads the catalog over gRPC, unless SHOP_CATALOG_BACKEND=local.
CATALOG_GRPC = (
    {"catalog-grpc"} if os.environ.get("SHOP_CATALOG_BACKEND", "grpc") == "grpc" else set()
)
# The processes (service.name after "shop-NN.") that must appear in a trace, per stage.
CHECKOUT_PROCESSES = {
    "01": {"web", "worker"},
    "02": {"web", "relay", "notifications"},
    "03": {"proxy", "web", "relay", "notifications"} | CATALOG_GRPC,
    "04": {
        "gateway",
        "orders",
        "catalog",
        "inventory",
        "payments",
        "orders-relay",
        "notifications",
    },
}


def product_read_processes(stage: str, served_by: str | None) -> set[str]:
    """Who serves GET /api/products/1/ (at stage 03 the route table says: X-Served-By)."""
    if stage.startswith("03"):
        if served_by == "catalog":
            return {"proxy", "catalog-web"}
        return {"proxy", "web"} | CATALOG_GRPC
    return {"gateway", "catalog"} if stage.startswith("04") else {"web"}


def trace_id_of(response: httpx.Response) -> str:
    trace_id = response.headers.get("X-Trace-Id", "")
    assert TRACE_ID.match(trace_id), f"X-Trace-Id {trace_id!r} on {response.request.url}"
    assert trace_id != "0" * 32
    return trace_id


def test_every_response_names_its_trace(client: httpx.Client) -> None:
    responses = [
        client.get("/api/health/"),
        client.get("/api/products/"),
        client.get("/api/no-such-thing/"),  # 404 from the router
        client.post(
            "/api/orders/", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        client.delete("/api/products/"),  # 405
        client.post("/api/products/", json={}),  # 401: staff only
    ]

    assert [response.status_code for response in responses] == [200, 200, 404, 400, 405, 401]
    for response in responses:
        trace_id_of(response)


def test_two_concurrent_requests_never_share_a_trace(client: httpx.Client) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: client.get("/api/products/1/"), range(24)))

    trace_ids = [trace_id_of(response) for response in responses]
    assert len(set(trace_ids)) == len(trace_ids)


# ---- What a trace holds, read back from the span file -------------------------------------


@pytest.fixture(scope="module")
def stage(client: httpx.Client) -> str:
    """The running stage's folder name, from its health answer ("04-services")."""
    return expect(client.get("/api/health/"), 200)["stage"]


@pytest.fixture(scope="module")
def spans_of(stage: str) -> Callable[..., list[dict]]:
    """spans_of(trace_id, until=predicate): the trace's spans, each with its `service` (the
    process, "orders"), waiting until `until(spans)` holds or the wait is over."""
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        pytest.skip("OTEL_EXPORTER_OTLP_ENDPOINT is set: the spans go to a collector, not a file")
    var_dir = Path(os.environ.get("SHOP_VAR_DIR") or REPO_ROOT / "var" / stage)
    path = var_dir / "traces" / "spans.jsonl"

    def spans_of(trace_id: str, until: Callable[[list[dict]], bool]) -> list[dict]:
        deadline = time.monotonic() + SPANS_WAIT_SECONDS
        while True:
            spans = read_trace(path, trace_id)
            if until(spans) or time.monotonic() > deadline:
                return spans
            time.sleep(0.5)

    return spans_of


def read_trace(path: Path, trace_id: str) -> list[dict]:
    """The spans of one trace in the span file and its rotated predecessor."""
    spans = []
    for file in (path.with_name(path.name + ".1"), path):
        if not file.exists():
            continue
        for line in file.read_text().splitlines():
            for resource_spans in json.loads(line)["resourceSpans"]:
                attributes = resource_spans["resource"]["attributes"]
                [service] = [
                    a["value"]["stringValue"] for a in attributes if a["key"] == "service.name"
                ]
                for scope_spans in resource_spans["scopeSpans"]:
                    for span in scope_spans["spans"]:
                        if span["traceId"] == trace_id:
                            spans.append({**span, "service": service.split(".", 1)[1]})
    return spans


def processes(spans: list[dict]) -> set[str]:
    return {span["service"] for span in spans}


def arrived(spans: list[dict], expected: set[str]) -> bool:
    """Whether the trace's spans are all in the file: every expected process has written,
    there is a root, and every parent named is there. A span is written when it ends, and a
    server's span ends after its answer has left, so a client can read the trace before the
    root, or a parent that is still open, has reached the file."""
    ids = {span["spanId"] for span in spans}
    return (
        expected <= processes(spans)
        and any(not span.get("parentSpanId") for span in spans)
        and all(span["parentSpanId"] in ids for span in spans if span.get("parentSpanId"))
    )


def assert_one_tree(spans: list[dict], *, root_process: str) -> None:
    """One root, the entry process's server span; every other span's parent in the trace; a
    hop between processes is a client's call to a server, or a message from producer to
    consumer (the relay, which publishes in the trace of the row it read, excepted)."""
    by_id = {span["spanId"]: span for span in spans}
    roots = [span for span in spans if not span.get("parentSpanId")]
    assert [(root["service"], root["kind"]) for root in roots] == [(root_process, SERVER)]
    for span in spans:
        if span is roots[0]:
            continue
        parent = by_id.get(span["parentSpanId"])
        assert parent is not None, f"{span['service']} {span['name']}: parent not in the trace"
        if span["kind"] == SERVER:
            assert parent["kind"] == CLIENT, f"{span['name']}'s parent is {parent['name']}"
        if span["kind"] == CONSUMER:
            assert parent["kind"] == PRODUCER, f"{span['name']}'s parent is {parent['name']}"
        if parent["service"] != span["service"]:
            assert span["kind"] in (SERVER, CONSUMER, PRODUCER), (
                f"{span['service']} {span['name']} is a child of {parent['service']}'s "
                f"{parent['name']} without a call or a message between them"
            )


def entry_process(stage: str) -> str:
    return {"03": "proxy", "04": "gateway"}.get(stage[:2], "web")


def test_a_checkout_is_one_trace_through_every_process_of_the_stage(
    stage: str, shop: Shop, spans_of
) -> None:
    product = shop.create_product(stock=5)
    cart = shop.create_cart({product["id"]: 1})
    response = shop.checkout(cart["id"])
    expect(response, 201)
    expected = CHECKOUT_PROCESSES[stage[:2]]

    spans = spans_of(trace_id_of(response), until=lambda spans: arrived(spans, expected))

    assert processes(spans) == expected
    assert_one_tree(spans, root_process=entry_process(stage))
    [consumed] = [span for span in spans if span["kind"] == CONSUMER]
    assert consumed["service"] in ("worker", "notifications")


def test_a_product_read_is_one_trace_through_the_stage(
    stage: str, client: httpx.Client, spans_of
) -> None:
    response = client.get("/api/products/1/")
    expect(response, 200)
    expected = product_read_processes(stage, response.headers.get("X-Served-By"))

    spans = spans_of(trace_id_of(response), until=lambda spans: arrived(spans, expected))

    assert processes(spans) == expected
    assert_one_tree(spans, root_process=entry_process(stage))
