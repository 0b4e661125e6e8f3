"""The report of `make capacity`: the capacity table, the scorecard, a chart of p95 against
throughput with each stage's knee marked. Pure functions of the measured figures, so the
report can be rebuilt, and tested, from a recorded capacity.json."""

from dataclasses import dataclass, field
from pathlib import Path

from shopctl.report import settings_table
from shopctl.scorecard import TracedRequests
from shopctl.tables import markdown_table


@dataclass
class Step:
    """One step of rising load: `users` users with no think time for `seconds`."""

    users: int
    requests: int
    failures: int
    requests_per_second: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    seconds: float
    server_cpu_seconds: float  # the stage's processes, during the step
    client_cpu_seconds: float  # Locust's, during the step
    server_memory_mb: float  # the stage's processes at the end of the step

    def keeps(self, slo_ms: float) -> bool:
        return self.failures == 0 and self.p95_ms is not None and self.p95_ms <= slo_ms

    def cpu_per_thousand(self) -> float | None:
        """CPU seconds the stage spent per 1,000 requests of the journey."""
        return 1000 * self.server_cpu_seconds / self.requests if self.requests else None

    def client_share(self) -> float:
        """The load generator's share of all CPU the step used (stage + client)."""
        used = self.server_cpu_seconds + self.client_cpu_seconds
        return self.client_cpu_seconds / used if used else 0.0

    def describe(self) -> str:
        return (
            f"{self.users} users: {self.requests_per_second:.0f} req/s, p95 {_ms(self.p95_ms)} ms, "
            f"{self.failures} failed, stage CPU {self.server_cpu_seconds:.1f} s, "
            f"client CPU {self.client_cpu_seconds:.1f} s"
        )


@dataclass
class Scorecard:
    procfile_processes: int = 0
    os_processes: int = 0
    idle_memory_mb: float = 0.0
    loaded_memory_mb: float = 0.0
    databases: int = 0
    deployable_units: int = 0
    code_lines: int = 0
    test_lines: int = 0
    traced: TracedRequests = field(default_factory=TracedRequests)


@dataclass
class StageCapacity:
    stage: str
    slo_ms: float
    steps: list[Step] = field(default_factory=list)
    scorecard: Scorecard = field(default_factory=Scorecard)
    error: str = ""

    def best(self) -> Step | None:
        """The step with the highest throughput that kept the SLO: the capacity."""
        kept = [step for step in self.steps if step.keeps(self.slo_ms)]
        return max(kept, key=lambda step: step.requests_per_second, default=None)

    def knee(self) -> Step | None:
        """The first step that did not keep the SLO, if the run got that far."""
        return next((step for step in self.steps if not step.keeps(self.slo_ms)), None)


def capacity_table(results: list[StageCapacity]) -> str:
    numbers = ["capacity req/s", "at users", "p50 ms", "p95 ms"]
    shares = ["CPU s per 1,000 req", "client CPU share"]
    columns = ["stage", *numbers, "knee", *shares]
    rows = []
    for result in results:
        best, knee = result.best(), result.knee()
        if best is None:
            why = result.error or "no step kept the SLO"
            rows.append([result.stage, "-", "-", "-", "-", why, "-", "-"])
            continue
        knee_text = (
            f"{knee.users} users: p95 {_ms(knee.p95_ms)} ms, {knee.failures} failed"
            if knee
            else "not reached (raise MAX_USERS)"
        )
        rows.append(
            [
                result.stage,
                f"{best.requests_per_second:.0f}",
                best.users,
                _ms(best.p50_ms),
                _ms(best.p95_ms),
                knee_text,
                _number(best.cpu_per_thousand(), ".1f"),
                f"{best.client_share():.0%}",
            ]
        )
    return markdown_table(columns, rows, numbers=[*numbers, *shares])


def scorecard_table(results: list[StageCapacity]) -> str:
    """One row per figure, one column per stage: the table a class argues over."""
    rows = [
        (
            "processes (Procfile / OS)",
            lambda r: f"{r.scorecard.procfile_processes} / {r.scorecard.os_processes}",
        ),
        ("memory at idle, MB", lambda r: f"{r.scorecard.idle_memory_mb:.0f}"),
        ("memory under load, MB", lambda r: f"{r.scorecard.loaded_memory_mb:.0f}"),
        (
            "CPU s per 1,000 requests at capacity",
            lambda r: _number(r.best() and r.best().cpu_per_thousand(), ".1f"),
        ),
        ("capacity, req/s", lambda r: _number(r.best() and r.best().requests_per_second, ".0f")),
        ("databases", lambda r: str(r.scorecard.databases)),
        ("deployable units", lambda r: str(r.scorecard.deployable_units)),
        (
            "lines of code / of tests",
            lambda r: f"{r.scorecard.code_lines:,} / {r.scorecard.test_lines:,}",
        ),
    ]
    for request in ("product read", "product list", "checkout"):
        rows.append((f"hops per {request}", _traced(request, "hops")))
        rows.append((f"queries per {request}", _traced(request, "queries")))
        rows.append((f"processes in a {request}'s trace", _traced(request, "services")))
    stages = [result.stage for result in results]
    table = [[label, *(value(result) for result in results)] for label, value in rows]
    return markdown_table(["", *stages], table, numbers=stages)


def steps_table(result: StageCapacity) -> str:
    numbers = [
        "users",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "failed",
        "stage CPU s",
        "client CPU s",
        "memory MB",
    ]
    rows = [
        [
            step.users,
            f"{step.requests_per_second:.0f}",
            _ms(step.p50_ms),
            _ms(step.p95_ms),
            _ms(step.p99_ms),
            step.failures,
            f"{step.server_cpu_seconds:.1f}",
            f"{step.client_cpu_seconds:.1f}",
            f"{step.server_memory_mb:.0f}",
            "yes" if step.keeps(result.slo_ms) else "**no**",
        ]
        for step in result.steps
    ]
    return markdown_table([*numbers, "keeps the SLO"], rows, numbers=numbers)


def capacity_markdown(results: list[StageCapacity], *, title: str, settings: dict[str, str]) -> str:
    lines = [f"# {title}", "", "## Settings", "", settings_table(settings)]
    lines += [
        "",
        "## Capacity",
        "",
        capacity_table(results),
        "",
        "![p95 against throughput](chart.png)",
        "",
        "## Scorecard",
        "",
        scorecard_table(results),
        "",
    ]
    notes = [
        f"- {result.stage}, {traced.request}: {traced.note}"
        for result in results
        for traced in result.scorecard.traced.requests
        if traced.note
    ]
    if notes:
        lines += ["Hops and queries could not be counted everywhere:", "", *notes, ""]
    lines += ["## Steps", ""]
    for result in results:
        lines += [f"### {result.stage}", ""]
        lines += [f"The run stopped short: {result.error}", ""] if result.error else []
        lines += [steps_table(result), ""] if result.steps else []
    return "\n".join(lines)


def capacity_chart(results: list[StageCapacity], path: Path, *, slo_ms: float) -> None:
    """p95 against throughput, a line per stage through its steps, the capacity ringed and
    the knee crossed; the SLO as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display: works on a server and in CI
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    figure, axes = plt.subplots(figsize=(9, 5.5))
    for result in results:
        steps = [step for step in result.steps if step.p95_ms is not None]
        if not steps:
            continue
        (line,) = axes.plot(
            [step.requests_per_second for step in steps],
            [step.p95_ms for step in steps],
            marker=".",
            label=result.stage,
        )
        for step in steps:
            axes.annotate(
                str(step.users),
                (step.requests_per_second, step.p95_ms),
                textcoords="offset points",
                xytext=(3, 3),
                fontsize=7,
                color=line.get_color(),
            )
        best, knee = result.best(), result.knee()
        if best:
            axes.plot(
                best.requests_per_second,
                best.p95_ms,
                "o",
                markersize=12,
                markerfacecolor="none",
                color=line.get_color(),
            )
            axes.annotate(
                f"{best.requests_per_second:.0f} req/s",
                (best.requests_per_second, best.p95_ms),
                textcoords="offset points",
                xytext=(6, -14),
                fontsize=8,
                color=line.get_color(),
            )
        if knee and knee.p95_ms is not None:
            axes.plot(
                knee.requests_per_second, knee.p95_ms, "x", markersize=10, color=line.get_color()
            )
    axes.axhline(slo_ms, linestyle="--", color="gray", linewidth=1)
    axes.annotate(
        f"SLO: p95 {slo_ms:g} ms",
        (0, slo_ms),
        xycoords=("axes fraction", "data"),
        textcoords="offset points",
        xytext=(4, 4),
        fontsize=8,
        color="gray",
    )
    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(ticker.ScalarFormatter())
    axes.set_xlabel("throughput, requests per second")
    axes.set_ylabel("p95, milliseconds (log scale)")
    axes.set_title(
        "p95 against throughput as the load rises (numbers: users; o: capacity, x: knee)"
    )
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _traced(request: str, figure: str):
    def value(result: StageCapacity) -> str:
        traced = result.scorecard.traced.get(request)
        if traced is None or not traced.spans:
            return "-"
        return str(getattr(traced, figure))

    return value


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
