"""What a stage is made of and what it costs, for the scorecard of `make capacity`.

Each figure is measured or derived from the repository, never typed in: processes and memory
with psutil, deployable units from the Procfile, lines from the files, hops and queries from
the traces of a few requests (the spans every process writes under the stage's var folder).
"""

import contextlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from shopctl.stages import RELEASE, Stage

# OpenTelemetry span kinds (OTLP's integers): a CLIENT or PRODUCER span is a call that leaves
# the process; a database call is a CLIENT span too, told apart by its db.system attribute.
SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER = 3, 4
DB_SYSTEM_ATTRIBUTES = ("db.system", "db.system.name")
TRACE_FILES = ("spans.jsonl.1", "spans.jsonl")  # the rotated file first, then the live one
# Spans reach the file in batches, from every process of the trace: wait until none is added.
TRACE_SETTLE_SECONDS, TRACE_WAIT_SECONDS = 1.5, 15.0

# What a Procfile line runs: the Django project or package that would be deployed for it.
DEPLOYED_MODULE = (
    re.compile(r"gunicorn\s+(?P<module>[\w.]+?)\.[wa]sgi\b"),
    re.compile(r"python\s+-m\s+(?P<module>\w+)"),
    re.compile(r"celery\s+-A\s+(?P<module>\w+)"),
    re.compile(r"python\s+(?P<module>manage)\.py"),
)
MONOLITH_MODULES = {"config", "manage"}  # the one Django project of stages 01-03
TEST_FILE = re.compile(r"^(test_.*|conftest)\.py$")


@dataclass(frozen=True)
class ProcessSample:
    pid: int
    cpu_seconds: float
    memory_mb: float


@dataclass
class TracedRequest:
    """One request sent to count what it crosses: hops (calls out of a process: HTTP, gRPC,
    broker) and database queries, in every process of its trace."""

    request: str
    trace_id: str = ""
    spans: int = 0
    services: int = 0
    hops: int = 0
    queries: int = 0
    note: str = ""


@dataclass
class TracedRequests:
    requests: list[TracedRequest] = field(default_factory=list)

    def get(self, request: str) -> TracedRequest | None:
        return next((traced for traced in self.requests if traced.request == request), None)


def sample(processes: list[psutil.Process]) -> list[ProcessSample]:
    """CPU seconds so far and memory of each process. Memory is PSS where the system has it:
    resident memory with each shared page split between the processes sharing it, so that
    the sum over gunicorn's forked workers is not counted once per worker."""
    samples = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            times = process.cpu_times()
            try:
                memory = process.memory_full_info()
                resident = getattr(memory, "pss", memory.rss)
            except psutil.AccessDenied:
                resident = process.memory_info().rss
            samples.append(ProcessSample(process.pid, times.user + times.system, resident / 2**20))
    return samples


def deployable_units(stage: Stage) -> int:
    """How many things are deployed on their own: the distinct Django projects or packages
    the Procfile's long-running lines run (the monolith counts once, however many processes)."""
    units = set()
    for name, command in stage.processes().items():
        if name == RELEASE:
            continue
        for pattern in DEPLOYED_MODULE:
            match = pattern.search(command)
            if match:
                module = match["module"]
                units.add("monolith" if module in MONOLITH_MODULES else module)
                break
        else:
            units.add(name)  # a command we cannot read: count the process as its own unit
    return len(units)


def code_lines(folder: Path) -> tuple[int, int]:
    """Non-blank lines of Python: (code, tests). Migrations are generated, so not counted;
    a file counts as a test when it is in a tests/ folder or named test_*.py / conftest.py."""
    code = tests = 0
    for path in folder.rglob("*.py"):
        parts = path.relative_to(folder).parts
        if "migrations" in parts or "_generated" in parts:
            continue
        lines = sum(1 for line in path.read_text(errors="replace").splitlines() if line.strip())
        if "tests" in parts or TEST_FILE.match(path.name):
            tests += lines
        else:
            code += lines
    return code, tests


def trace_counts(base_url: str, var_dir: Path) -> TracedRequests:
    """A product read, a product list and a checkout, each counted from its trace."""
    traced = TracedRequests()
    with httpx.Client(base_url=base_url, timeout=10, trust_env=False) as client:
        sent = _send_traced_requests(client)
    for request, trace_id in sent:
        traced.requests.append(_count_trace(request, trace_id, var_dir / "traces"))
    return traced


def _send_traced_requests(client: httpx.Client) -> list[tuple[str, str]]:
    """[(what, trace id)]: the X-Trace-Id each answer carried ('' when it carried none)."""
    sent = []
    product = client.get("/api/products/1/")
    sent.append(("product read", product.headers.get("X-Trace-Id", "")))
    listing = client.get("/api/products/")
    sent.append(("product list", listing.headers.get("X-Trace-Id", "")))
    cart = client.post("/api/carts/").json()
    client.post(f"/api/carts/{cart['id']}/items/", json={"product_id": 1, "quantity": 1})
    order = client.post(
        "/api/orders/",
        json={
            "cart_id": cart["id"],
            "email": "scorecard@example.com",
            "payment_token": "tok_visa",
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    sent.append(("checkout", order.headers.get("X-Trace-Id", "")))
    return sent


def _count_trace(request: str, trace_id: str, trace_dir: Path) -> TracedRequest:
    traced = TracedRequest(request=request, trace_id=trace_id)
    if not trace_id:
        traced.note = "no X-Trace-Id in the answer (tracing off?)"
        return traced
    spans = _wait_for_spans(trace_id, trace_dir)
    if not spans:
        traced.note = f"no spans of the trace in {trace_dir}/"
        return traced
    traced.spans = len(spans)
    traced.services = len({service for service, _ in spans})
    for _, span in spans:
        attributes = {attribute["key"] for attribute in span.get("attributes", [])}
        if attributes & set(DB_SYSTEM_ATTRIBUTES):
            traced.queries += 1
        elif span.get("kind") in (SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER):
            traced.hops += 1
    return traced


def _wait_for_spans(trace_id: str, trace_dir: Path) -> list[tuple[str, dict]]:
    """The trace's spans once no more arrive for a moment (or after TRACE_WAIT_SECONDS)."""
    deadline = time.monotonic() + TRACE_WAIT_SECONDS
    spans: list[tuple[str, dict]] = []
    last_change = time.monotonic()
    while time.monotonic() < deadline:
        found = read_trace(trace_id, trace_dir)
        if len(found) != len(spans):
            spans, last_change = found, time.monotonic()
        elif spans and time.monotonic() - last_change >= TRACE_SETTLE_SECONDS:
            break
        time.sleep(0.25)
    return spans


def read_trace(trace_id: str, trace_dir: Path) -> list[tuple[str, dict]]:
    """[(service name, span)] of one trace in a stage's span files (OTLP JSON, a request
    per line); a line still being written is skipped."""
    spans = []
    for name in TRACE_FILES:
        path = trace_dir / name
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if trace_id not in line:
                continue
            try:
                request = json.loads(line)
            except ValueError:
                continue
            for resource_spans in request.get("resourceSpans", []):
                service = _service_name(resource_spans.get("resource", {}))
                for scope_spans in resource_spans.get("scopeSpans", []):
                    spans += [
                        (service, span)
                        for span in scope_spans.get("spans", [])
                        if span.get("traceId") == trace_id
                    ]
    return spans


def _service_name(resource: dict) -> str:
    for attribute in resource.get("attributes", []):
        if attribute.get("key") == "service.name":
            return attribute.get("value", {}).get("stringValue", "")
    return ""
