"""`make bench`'s saturation section: what the stages serve at their limit, as ratios measured
side by side in one run, against the goals of the course's performance work.

- Stage 04 against stage 01, path by path (product list, product detail, inventory read).
- Stage 03 through its proxy against the same request sent straight to the process that the
  route table sends it to; and what the proxy adds to p50 when idle.
- Stage 01's product list against its own /api/health/.

The client: CLIENTS processes, each with one keep-alive connection (reopened when the server
closes it, as gunicorn's sync workers do after every response), sending one request after
another for SECONDS. It speaks just enough HTTP/1.1 to read a response (a status line,
headers, a Content-Length or chunked body), so it costs the server's cores little: each
process reports its own CPU time, and the report shows the client's share. Both sides of a
ratio are measured by the same client, alternately, ROUNDS times, so that a noisy neighbour
on the machine slows both sides rather than one. Stages 01 and 04 run at the same time so
that they can take turns; the one not being measured is paused (SIGSTOP), or its background
processes (stage 04's relays and sweepers, stage 01's Celery worker) would slow the other.
"""

import os
import socket
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import psutil

from shopctl import ShopctlError
from shopctl.env import VAR_DIR, isolated_environment
from shopctl.runner import RunningStage, free_port, started
from shopctl.stages import Stage

CLIENTS = 8  # connections at once, one per process: wrk's default is 10
SECONDS = 3.0  # per side, per round
ROUNDS = 2
IDLE_REQUESTS = 400  # per side, one at a time, for the idle p50
WARM_UP_SECONDS = 0.5

# The goals of issue 16 (workshop/comparison.md): a ratio at least this high ...
STAGE_04_OVER_01 = 0.6
PROXY_OVER_DIRECT = 0.8
LIST_OVER_HEALTH = 0.6
PROXY_ADDED_P50_MS = 0.5  # ... and at most this many ms added to p50 by the proxy when idle

PATHS_04_VS_01 = (
    ("product list", "/api/products/"),
    ("product detail", "/api/products/1/"),
    ("inventory read", "/api/inventory/1/"),
)
PATHS_THROUGH_PROXY = ("/api/health/", "/api/products/1/", "/api/inventory/1/")


@dataclass(frozen=True)
class Rate:
    requests_per_second: float
    failed: int  # answers other than 200, and connections lost mid-answer
    client_cpu: float  # the clients' CPU seconds per second of the run: their load on the cores
    server_cpu_ms: float  # CPU ms the stage's processes spent per answer (all of them)


@dataclass(frozen=True)
class Ratio:
    what: str
    floor_name: str
    floor: Rate
    measured: Rate
    goal: float

    @property
    def ratio(self) -> float:
        return self.measured.requests_per_second / self.floor.requests_per_second

    @property
    def cpu_ratio(self) -> float:
        """The same ratio from the servers' CPU per answer: what the rates would show on a
        machine where the stages had the cores to themselves. On a shared machine the
        scheduler gives a stage of many processes a larger share than a stage of few, which
        bends the rates but not the CPU each answer costs."""
        return self.floor.server_cpu_ms / self.measured.server_cpu_ms

    @property
    def met(self) -> bool:
        failed = self.floor.failed or self.measured.failed
        return not failed and self.ratio >= self.goal


@dataclass(frozen=True)
class AddedLatency:
    what: str
    direct_p50: float  # ms
    proxied_p50: float
    goal: float

    @property
    def added(self) -> float:
        return self.proxied_p50 - self.direct_p50

    @property
    def met(self) -> bool:
        return self.added <= self.goal


# --- the client ------------------------------------------------------------------------------
class Connection:
    """One keep-alive HTTP/1.1 connection that sends one GET again and again."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.address = (parts.hostname, parts.port)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
        self.sock: socket.socket | None = None
        self.reader = None

    def get(self) -> int:
        """Send the request, read the whole answer; its status. Reconnects when the server
        closed the connection after the previous answer, or before this one."""
        for attempt in (1, 2):
            if self.sock is None:
                self.sock = socket.create_connection(self.address, timeout=10)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.reader = self.sock.makefile("rb")
            try:
                self.sock.sendall(self.request)
                status_line = self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed before the answer")
                return self._read_rest(int(status_line.split()[1]))
            except (ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _read_rest(self, status: int) -> int:
        length, chunked, close = 0, False, False
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if chunked:
            while size := int(self.reader.readline().split(b";")[0], 16):
                self.reader.read(size + 2)  # the chunk and its CRLF
            self.reader.readline()  # the empty line after the last chunk
        else:
            self.reader.read(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.sock is not None:
            self.reader.close()
            self.sock.close()
        self.sock = self.reader = None


def _client(url: str, seconds: float) -> tuple[int, int, float]:
    """One client process: (answers 200, failures, CPU seconds) over `seconds`."""
    connection = Connection(url)
    ok = failed = 0
    cpu_before = time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        try:
            if connection.get() == 200:
                ok += 1
            else:
                failed += 1
        except OSError:
            failed += 1
            connection.close()
    connection.close()
    return ok, failed, time.process_time() - cpu_before


def _rate(pool: ProcessPoolExecutor, url: str, seconds: float, serving: RunningStage) -> Rate:
    processes = serving.processes()
    cpu_before = cpu_seconds(processes)
    results = list(pool.map(_client, [url] * CLIENTS, [seconds] * CLIENTS))
    server_cpu = cpu_seconds(processes) - cpu_before
    answered = sum(ok for ok, _, _ in results)
    return Rate(
        requests_per_second=answered / seconds,
        failed=sum(failed for _, failed, _ in results),
        client_cpu=sum(cpu for _, _, cpu in results) / seconds,
        server_cpu_ms=server_cpu * 1000 / max(answered, 1),
    )


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """The CPU time the processes have used so far; one that ended meanwhile counts 0."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _sum(rates: list[Rate]) -> Rate:
    return Rate(
        requests_per_second=statistics.mean(rate.requests_per_second for rate in rates),
        failed=sum(rate.failed for rate in rates),
        client_cpu=statistics.mean(rate.client_cpu for rate in rates),
        server_cpu_ms=statistics.mean(rate.server_cpu_ms for rate in rates),
    )


def side_by_side(
    pool: ProcessPoolExecutor,
    floor_url: str,
    measured_url: str,
    *,
    serving: tuple[RunningStage, RunningStage],
    pause: tuple[RunningStage | None, RunningStage | None] = (None, None),
    seconds: float = SECONDS,
) -> tuple[Rate, Rate]:
    """Both URLs at saturation, alternately, ROUNDS times each: (floor, measured). `serving`
    says which stage answers each URL (its processes' CPU is counted); while one side is
    measured, `pause`'s stage for it (the other side's stage, if another) is paused."""
    floors: list[Rate] = []
    measured: list[Rate] = []
    for round_number in range(ROUNDS + 1):  # the first round warms up
        for url, stage, paused, rates in (
            (floor_url, serving[0], pause[0], floors),
            (measured_url, serving[1], pause[1], measured),
        ):
            with _paused(paused):
                seconds_now = WARM_UP_SECONDS if round_number == 0 else seconds
                rate = _rate(pool, url, seconds_now, stage)
            if round_number:
                rates.append(rate)
    return _sum(floors), _sum(measured)


@contextmanager
def _paused(running: RunningStage | None) -> Iterator[None]:
    """Every process of the stage stopped (SIGSTOP) for the duration, then continued."""
    if running is None:
        yield
        return
    processes = running.processes()
    for process in processes:
        process.suspend()
    try:
        yield
    finally:
        for process in processes:
            process.resume()


def idle_p50s(
    direct_url: str, proxied_url: str, requests: int = IDLE_REQUESTS
) -> tuple[float, float]:
    """p50 ms of one request at a time on a keep-alive connection, the two URLs taking turns
    request by request: (direct, proxied)."""
    direct, proxied = Connection(direct_url), Connection(proxied_url)
    timings: dict[Connection, list[float]] = {direct: [], proxied: []}
    try:
        for number in range(requests * 2 + 40):
            connection = direct if number % 2 == 0 else proxied
            started = time.perf_counter()
            status = connection.get()
            if status != 200:
                raise ShopctlError(f"{connection.request!r} answered {status}")
            if number >= 40:  # the first ones warm up
                timings[connection].append((time.perf_counter() - started) * 1000)
    finally:
        direct.close()
        proxied.close()
    return statistics.median(timings[direct]), statistics.median(timings[proxied])


# --- the section -----------------------------------------------------------------------------
@contextmanager
def _started(stage: Stage) -> Iterator[RunningStage]:
    var_dir = VAR_DIR / "bench" / f"{stage.name}-saturation"
    env = isolated_environment(
        port=free_port(stage.port_offsets()),
        var_dir=var_dir,
        database=f"shop_{stage.number}_saturation",
    )
    print(f"[saturation] start {stage.name} (log in {var_dir}/processes.log)")
    with started(stage, env, log_path=var_dir / "processes.log") as running:
        yield running


def measure(stages: dict[str, Stage]) -> tuple[list[Ratio], list[AddedLatency]]:
    """Start the stages it needs (01 and 04 together, then 03), measure, stop them."""
    ratios: list[Ratio] = []
    latencies: list[AddedLatency] = []
    with ProcessPoolExecutor(max_workers=CLIENTS) as pool:
        if "01" in stages:
            with _started(stages["01"]) as monolith:
                base = monolith.base_url
                health, products = side_by_side(
                    pool,
                    f"{base}/api/health/",
                    f"{base}/api/products/",
                    serving=(monolith, monolith),
                )
                ratios.append(
                    Ratio(
                        "01: product list", "01: /api/health/", health, products, LIST_OVER_HEALTH
                    )
                )
                _say(ratios[-1])
                if "04" in stages:
                    with _started(stages["04"]) as services:
                        for what, path in PATHS_04_VS_01:
                            floor, measured = side_by_side(
                                pool,
                                base + path,
                                services.base_url + path,
                                serving=(monolith, services),
                                pause=(services, monolith),
                            )
                            ratios.append(
                                Ratio(
                                    f"04: {what} ({path})", "01", floor, measured, STAGE_04_OVER_01
                                )
                            )
                            _say(ratios[-1])
        if "03" in stages:
            with _started(stages["03"]) as strangler:
                for path in PATHS_THROUGH_PROXY:
                    side, upstream = _upstream_for(strangler, path)
                    floor, measured = side_by_side(
                        pool,
                        upstream + path,
                        strangler.base_url + path,
                        serving=(strangler, strangler),
                    )
                    ratios.append(
                        Ratio(
                            f"03: {path} through the proxy",
                            f"direct to the {side}",
                            floor,
                            measured,
                            PROXY_OVER_DIRECT,
                        )
                    )
                    _say(ratios[-1])
                    direct_p50, proxied_p50 = idle_p50s(upstream + path, strangler.base_url + path)
                    latencies.append(
                        AddedLatency(
                            f"03: {path} through the proxy, idle",
                            direct_p50,
                            proxied_p50,
                            PROXY_ADDED_P50_MS,
                        )
                    )
                    print(
                        f"[saturation] {path} idle p50: direct {direct_p50:.2f} ms, "
                        f"through the proxy {proxied_p50:.2f} ms"
                    )
    return ratios, latencies


def _upstream_for(running: RunningStage, path: str) -> tuple[str, str]:
    """(side, base URL) of the process that the proxy's route table sends `path` to."""
    table = httpx.get(f"{running.base_url}/_proxy/routes", timeout=5, trust_env=False).json()
    route = next((route for route in table["routes"] if path.startswith(route["prefix"])), None)
    side = route["service"] if route and route["mode"] == "service" else "monolith"
    return side, table["upstreams"][side]


def _say(row: Ratio) -> None:
    print(
        f"[saturation] {row.what}: {row.measured.requests_per_second:.0f} req/s against "
        f"{row.floor.requests_per_second:.0f} ({row.floor_name}) = {row.ratio:.2f}x; "
        f"CPU per answer {row.measured.server_cpu_ms:.2f} ms against "
        f"{row.floor.server_cpu_ms:.2f} = {row.cpu_ratio:.2f}x"
    )


def markdown(ratios: list[Ratio], latencies: list[AddedLatency]) -> str:
    cores = os.cpu_count()
    lines = [
        "## At saturation: ratios measured side by side",
        "",
        f"{CLIENTS} client processes, one keep-alive connection each, {SECONDS:.0f} s per side "
        f"and round, {ROUNDS} rounds taking turns (req/s: the mean of the rounds). The client "
        f"runs on the same {cores} cores: its CPU is shown as cores busy. CPU ms: what all of "
        "the serving stage's processes spent per answer; CPU ×, the ratio those give (floor's "
        "CPU / measured CPU): what the rates would show if the stages had the cores to "
        "themselves. On a busy machine trust CPU × over ×.",
        "",
        "| what | floor | req/s (floor) | req/s | × | CPU ms (floor) | CPU ms | CPU × | goal "
        "| met | failed | client cores |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for row in ratios:
        lines.append(
            f"| {row.what} | {row.floor_name} | {row.floor.requests_per_second:.0f} | "
            f"{row.measured.requests_per_second:.0f} | {row.ratio:.2f} | "
            f"{row.floor.server_cpu_ms:.2f} | {row.measured.server_cpu_ms:.2f} | "
            f"{row.cpu_ratio:.2f} | ≥ {row.goal} | "
            f"{'yes' if row.met else 'NO'} | {row.floor.failed + row.measured.failed} | "
            f"{row.floor.client_cpu:.2f} / {row.measured.client_cpu:.2f} |"
        )
    if latencies:
        lines += [
            "",
            f"One request at a time on a keep-alive connection, {IDLE_REQUESTS} per side, "
            "taking turns:",
            "",
            "| what | p50 ms direct | p50 ms through the proxy | added ms | goal | met |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for row in latencies:
            lines.append(
                f"| {row.what} | {row.direct_p50:.2f} | {row.proxied_p50:.2f} | "
                f"{row.added:.2f} | ≤ {row.goal} | {'yes' if row.met else 'NO'} |"
            )
    return "\n".join(lines) + "\n"
