"""`shopctl bench`: what the workshop's costs are, each as a ratio to a floor measured in the
same run, on the same machine, by the same client.

- The ceiling: a bare WSGI app (workshop/bench/hello.py) on the stages' gunicorn settings,
  against stage 01's minimal endpoint, product list and product detail.
- The strangler proxy: the same request direct to the upstream that serves it and through the
  proxy (stage 03).
- One gRPC hop: a catalog lookup in-process and over gRPC to stage 03's catalog service.
- The cost of seeing: stage 04's product detail with tracing off (OTEL_SDK_DISABLED=true) and
  on, two copies of the stage side by side.
- Queries per request on the hot endpoints, at every stage.
- At saturation (shopctl/saturation.py): stage 04 against stage 01 path by path, stage 03
  through its proxy against direct, stage 01's list against its health check; each ratio
  measured side by side and set against the goal it has. `--only saturation` runs just this,
  `--only tracing` just the tracing row.

Latency: sequential requests, one at a time, each on a new connection (gunicorn's sync
workers close every connection), p50 and p95. Throughput: CLIENTS processes sending
requests back to back for a few seconds. The client runs on the same cores as the server,
as a learner's laptop does: compare the figures with each other, not with other machines.
"""

import contextlib
import http.client
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from shopctl import ShopctlError, saturation
from shopctl.env import VAR_DIR, isolated_environment, tool_environment
from shopctl.env import mode as run_mode
from shopctl.report import machine
from shopctl.runner import RunningStage, free_port, release, started
from shopctl.stages import REPO_ROOT, Stage, all_stages, find_stage

WORKSHOP = REPO_ROOT / "workshop"
COUNT_QUERIES = WORKSHOP / "bench" / "count_queries.py"
GRPC_HOP = WORKSHOP / "bench" / "grpc_hop.py"
# The `web` line of the stages' Procfiles, minus the app: same workers, same server.
GUNICORN_FLAGS = ["--workers", "4", "--no-control-socket", "--graceful-timeout", "5"]
WARM_UP_REQUESTS = 40
LATENCY_REQUESTS = 300
THROUGHPUT_SECONDS = 5
CLIENTS = 4


@dataclass(frozen=True)
class Measurement:
    p50: float  # milliseconds
    p95: float
    requests_per_second: float
    p99: float | None = None


@dataclass(frozen=True)
class Row:
    what: str
    floor_name: str
    floor: Measurement | None
    measured: Measurement | None
    note: str = ""


PARTS = ("costs", "saturation")
# `--only` takes a part, or one row of the costs: the tracing row alone, to compare a change
# to the tracing setup without the minutes the other rows take.
ONLY = (*PARTS, "tracing")


def bench(requests: int = LATENCY_REQUESTS, seconds: int = THROUGHPUT_SECONDS, parts=PARTS) -> int:
    """Measure, print the tables, write them under var/reports/bench-<time>/."""
    report_dir = VAR_DIR / "reports" / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    report_dir.mkdir(parents=True)
    stages = all_stages()
    settings = {"mode": run_mode(tool_environment()), **machine()}
    text = ""
    if "costs" in parts:
        print(
            f"shopctl: bench, {requests} sequential requests and {seconds} s of {CLIENTS} "
            "clients each"
        )
        rows = _ceiling(find_stage("01"), report_dir, requests, seconds)
        rows += _stage_03_costs(stages, requests, seconds)
        rows += _tracing_cost(stages, requests, seconds)
        queries = {stage.name: _count_queries(stage, report_dir) for stage in stages}
        text = _markdown(rows, queries, {})
    elif "tracing" in parts:
        print(f"shopctl: bench, the tracing row: {requests} sequential requests and {seconds} s "
              f"of {CLIENTS} clients, four times")  # fmt: skip
        text = _markdown(_tracing_cost(stages, requests, seconds), {}, {})
    if "saturation" in parts:
        print("shopctl: bench, at saturation")
        ratios, latencies = saturation.measure({stage.number: stage for stage in stages})
        text += ("\n" if text else "") + saturation.markdown(ratios, latencies)
    text += _settings_markdown(settings)
    (report_dir / "bench.md").write_text(text)
    print(f"\n{text}")
    print(f"shopctl: bench report in {report_dir}/bench.md")
    return 0


def _ceiling(stage: Stage, report_dir: Path, requests: int, seconds: int) -> list[Row]:
    """The floor (bare WSGI) against stage 01's endpoints, on the same gunicorn settings."""
    port = free_port()
    print(f"[ceiling] floor: bare WSGI app on gunicorn, port {port}")
    hello = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bench.hello:application", "--bind",
         f"127.0.0.1:{port}", *GUNICORN_FLAGS],
        cwd=WORKSHOP,
        env=tool_environment(),
        stdout=subprocess.DEVNULL,
        stderr=(report_dir / "hello.log").open("w"),
    )  # fmt: skip
    try:
        floor_url = f"http://127.0.0.1:{port}/"
        _wait_for(floor_url)
        floor = measure(floor_url, requests, seconds)
    finally:
        hello.terminate()
        hello.wait(timeout=15)
    print(f"[ceiling] floor: {_describe(floor)}")

    var_dir = VAR_DIR / "bench" / stage.name
    env = isolated_environment(
        port=free_port(stage.port_offsets()), var_dir=var_dir, database="shop_01_bench"
    )
    print(f"[ceiling] start {stage.name} (log in {var_dir}/processes.log)")
    rows = []
    with started(stage, env, log_path=var_dir / "processes.log") as running:
        for what, path in (
            ("minimal DRF endpoint (GET /api/health/)", "/api/health/"),
            ("product list (GET /api/products/, 20 rows)", "/api/products/"),
            ("product detail (GET /api/products/1/)", "/api/products/1/"),
        ):
            print(f"[ceiling] {stage.name} {path}")
            measured = measure(running.base_url + path, requests, seconds)
            print(f"[ceiling] {stage.name} {path}: {_describe(measured)}")
            rows.append(Row(f"{stage.name}: {what}", "bare WSGI on gunicorn", floor, measured))
    return rows


def _stage_03_costs(stages: list[Stage], requests: int, seconds: int) -> list[Row]:
    """On one running stage 03: the proxy's cost and one gRPC hop's."""
    proxy_row = "strangler proxy: GET /api/products/1/ direct and through the proxy"
    hop_row = "one gRPC hop: catalog product_get in-process and over gRPC"
    stage = next((stage for stage in stages if stage.number == "03"), None)
    if stage is None:
        why = "not measured yet: comes with stage 03"
        return [
            Row(proxy_row, "direct", None, None, why),
            Row(hop_row, "in-process", None, None, why),
        ]
    var_dir = VAR_DIR / "bench" / stage.name
    env = isolated_environment(
        port=free_port(stage.port_offsets()), var_dir=var_dir, database="shop_03_bench"
    )
    print(f"[stage 03] start {stage.name} (log in {var_dir}/processes.log)")
    with started(stage, env, log_path=var_dir / "processes.log") as running:
        rows = [_proxy_cost(running, proxy_row, requests, seconds)]
        rows.append(_grpc_hop(running, hop_row, requests))
    return rows


def _proxy_cost(running: RunningStage, what: str, requests: int, seconds: int) -> Row:
    """The product detail straight from the upstream the route table sends it to, and through
    the proxy: the difference is the proxy. The proxy says where that upstream is."""
    table = httpx.get(f"{running.base_url}/_proxy/routes", timeout=5, trust_env=False).json()
    route = next(
        (route for route in table["routes"] if "/api/products/1/".startswith(route["prefix"])),
        None,
    )
    side = route["service"] if route and route["mode"] == "service" else "monolith"
    upstream = table["upstreams"][side]
    print(f"[proxy] direct: {upstream}/api/products/1/ ({side})")
    direct = measure(f"{upstream}/api/products/1/", requests, seconds)
    print(f"[proxy] direct: {_describe(direct)}")
    proxied = measure(f"{running.base_url}/api/products/1/", requests, seconds)
    print(f"[proxy] through the proxy: {_describe(proxied)}")
    return Row(f"{running.stage.name}: {what}", f"direct to the {side}", direct, proxied)


def _grpc_hop(running: RunningStage, what: str, requests: int) -> Row:
    """catalog.local against catalog.remote, in a process of the stage's own (grpc_hop.py)."""
    print(f"[gRPC] {requests} sequential lookups in-process, then over gRPC")
    result = subprocess.run(
        [sys.executable, str(GRPC_HOP), str(requests)],
        cwd=running.stage.path,
        env=running.env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
        return Row(what, "in-process", None, None, f"not measured: {' '.join(tail)}")
    timings = json.loads(result.stdout.strip().splitlines()[-1])
    local, remote = (_sequential(timings[side]) for side in ("in_process", "grpc"))
    print(f"[gRPC] in-process: {_describe(local)}; over gRPC: {_describe(remote)}")
    return Row(f"{running.stage.name}: {what} (req/s: one caller)", "in-process", local, remote)


def _tracing_cost(stages: list[Stage], requests: int, seconds: int) -> list[Row]:
    """Stage 04's product detail (gateway, one gRPC call, one query) with tracing off and on.

    Two copies of the stage run side by side, identical but for OTEL_SDK_DISABLED, and are
    measured in turn: off, on, on, off. A machine that gets busier or quieter during the run
    (other people's work, a CPU warming up) then favours neither side; each side is the mean
    of its two measurements. The stage's own CPU time per request is counted too: on a busy
    machine it moves far less than the rates do.
    """
    what = "tracing: GET /api/products/1/ with tracing off and on"
    stage = next((stage for stage in stages if stage.number == "04"), None)
    if stage is None:
        return [Row(what, "tracing off", None, None, "not measured yet: comes with stage 04")]
    copies: dict[str, RunningStage] = {}
    measured: dict[str, list[Measurement]] = {"off": [], "on": []}
    cpu: dict[str, list[float]] = {"off": [], "on": []}  # seconds of CPU per request
    # Both copies are stopped when this block ends, however it ends (Ctrl-C included).
    with contextlib.ExitStack() as running_copies:
        for side in ("off", "on"):
            var_dir = VAR_DIR / "bench" / f"{stage.name}-tracing-{side}"
            env = isolated_environment(
                port=free_port(stage.port_offsets()),
                var_dir=var_dir,
                database=f"shop_04_bench_tracing_{side}",
            )
            env["OTEL_SDK_DISABLED"] = "true" if side == "off" else "false"
            print(f"[tracing] start {stage.name} with tracing {side} (log in {var_dir})")
            copies[side] = running_copies.enter_context(
                started(stage, env, log_path=var_dir / "processes.log")
            )
        for side in ("off", "on", "on", "off"):
            cpu_before = saturation.cpu_seconds(copies[side].processes())
            measurement = measure(f"{copies[side].base_url}/api/products/1/", requests, seconds)
            sent = WARM_UP_REQUESTS + requests + measurement.requests_per_second * seconds
            cpu[side].append((saturation.cpu_seconds(copies[side].processes()) - cpu_before) / sent)
            print(f"[tracing] {side}: {_describe(measurement)}")
            measured[side].append(measurement)
    off, on = (_mean(measured[side]) for side in ("off", "on"))
    cpu_off, cpu_on = (statistics.mean(cpu[side]) * 1000 for side in ("off", "on"))
    cpu_note = f"stage's CPU per request {cpu_off:.2f} → {cpu_on:.2f} ms, ×{cpu_on / cpu_off:.2f}"
    print(f"[tracing] {cpu_note}")
    return [Row(f"{stage.name}: {what} ({cpu_note})", "tracing off", off, on)]


def _mean(measurements: list[Measurement]) -> Measurement:
    return Measurement(
        p50=statistics.mean(m.p50 for m in measurements),
        p95=statistics.mean(m.p95 for m in measurements),
        p99=statistics.mean(m.p99 for m in measurements if m.p99 is not None),
        requests_per_second=statistics.mean(m.requests_per_second for m in measurements),
    )


def _sequential(timings: list[float]) -> Measurement:
    """Percentiles of one caller's sequential calls; its rate is 1000 / mean ms."""
    cut = statistics.quantiles(timings, n=100)
    return Measurement(
        p50=cut[49], p95=cut[94], p99=cut[98], requests_per_second=1000 / statistics.mean(timings)
    )


def _count_queries(stage: Stage, report_dir: Path) -> dict[str, int] | str:
    """The stage's hot requests and their query counts, on a freshly seeded database."""
    if not (stage.path / "config" / "settings.py").is_file():
        return (
            "not counted: no single Django project to count in "
            "(stage 04's services count their own queries in their tests)"
        )
    print(f"[queries] {stage.name}: migrate, seed, count")
    var_dir = VAR_DIR / "bench" / f"{stage.name}-queries"
    env = isolated_environment(
        port=free_port(stage.port_offsets()), var_dir=var_dir, database=f"shop_{stage.number}_bench"
    )
    log_path = report_dir / f"queries-{stage.name}.log"
    log_path.unlink(missing_ok=True)
    try:
        release(stage, env, log_path=log_path)
    except ShopctlError as error:
        return f"not counted: {error}"
    with log_path.open("a") as log:
        result = subprocess.run(
            [sys.executable, str(COUNT_QUERIES)],
            cwd=stage.path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    if result.returncode != 0:
        return f"not counted (see {log_path})"
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(url: str, requests: int, seconds: int) -> Measurement:
    """Latency of sequential requests, then throughput of CLIENTS processes at once."""
    for _ in range(WARM_UP_REQUESTS):
        _get(url)
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        _get(url)
        timings.append((time.perf_counter() - started) * 1000)
    cut = statistics.quantiles(timings, n=100)
    with ProcessPoolExecutor(max_workers=CLIENTS) as pool:
        counts = list(pool.map(_requests_for, [url] * CLIENTS, [seconds] * CLIENTS))
    return Measurement(
        p50=cut[49], p95=cut[94], p99=cut[98], requests_per_second=sum(counts) / seconds
    )


def _requests_for(url: str, seconds: float) -> int:
    """One client: requests back to back for `seconds`; how many it completed."""
    deadline = time.perf_counter() + seconds
    done = 0
    while time.perf_counter() < deadline:
        _get(url)
        done += 1
    return done


def _get(url: str) -> None:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise ShopctlError(f"GET {url} answered {response.status}")
    finally:
        connection.close()


def _wait_for(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _get(url)
            return
        except (OSError, ShopctlError):
            if time.monotonic() > deadline:
                raise ShopctlError(f"{url} did not answer within {timeout:.0f} s") from None
            time.sleep(0.2)


def _describe(measurement: Measurement) -> str:
    p99 = f", p99 {measurement.p99:.2f} ms" if measurement.p99 is not None else ""
    return (
        f"p50 {measurement.p50:.2f} ms, p95 {measurement.p95:.2f} ms{p99}, "
        f"{measurement.requests_per_second:.0f} req/s"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _markdown(rows: list[Row], queries: dict[str, dict[str, int] | str], settings: dict) -> str:
    lines = [
        "## Costs against a floor measured in the same run",
        "",
        "| what | floor | p50 ms (floor) | p50 ms | × | p99 ms (floor) | p99 ms "
        "| req/s (floor) | req/s | × |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row.floor is None or row.measured is None:
            lines.append(f"| {row.what} | {row.floor_name} | {row.note} | | | | | | | |")
            continue
        floor, measured = row.floor, row.measured
        lines.append(
            f"| {row.what} | {row.floor_name} | {floor.p50:.2f} | {measured.p50:.2f} | "
            f"{measured.p50 / floor.p50:.1f} | {_ms(floor.p99)} | {_ms(measured.p99)} | "
            f"{floor.requests_per_second:.0f} | {measured.requests_per_second:.0f} | "
            f"{measured.requests_per_second / floor.requests_per_second:.2f} |"
        )
    if not queries:  # `--only tracing`: no stage's queries were counted
        return "\n".join(lines) + "\n" + (_settings_markdown(settings) if settings else "")
    lines += ["", "## Queries per request", ""]
    # In the order the counter sends them (a dict keeps it), every stage's names once.
    requests = list(
        dict.fromkeys(
            name for counts in queries.values() if isinstance(counts, dict) for name in counts
        )
    )
    lines.append("| request | " + " | ".join(queries) + " |")
    lines.append("|---|" + "---:|" * len(queries))
    for name in requests:
        cells = [
            str(counts.get(name, "-")) if isinstance(counts, dict) else "-"
            for counts in queries.values()
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for stage, counts in queries.items():
        if isinstance(counts, str):
            lines.append(f"\n{stage}: {counts}")
    if settings:
        return "\n".join(lines) + "\n" + _settings_markdown(settings)
    return "\n".join(lines) + "\n"


def _settings_markdown(settings: dict) -> str:
    lines = ["", "## Machine", "", "| setting | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in settings.items()]
    return "\n".join(lines) + "\n"
