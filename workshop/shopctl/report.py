"""The side-by-side report of `make compare`: Markdown tables, a PNG chart, the machine.

Everything here works on files a Locust run left behind (`<prefix>_stats.csv`,
`<prefix>_failures.csv` and the journey's `<prefix>_response_times.json`), so a report can
be rebuilt, and tested, from recorded runs.
"""

import csv
import json
import os
import platform
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from shopctl import locust_run
from shopctl.locust_run import AGGREGATED, RequestStats, aggregated, percentile, read_stats
from shopctl.tables import markdown_table

# The journey names each request "<group> <METHOD> <path>" (workshop/loadtest/journey.py).
ENDPOINT_GROUPS = ("browse", "search", "detail", "cart", "checkout", "order lookup")
RESPONSE_TIMES_SUFFIX = "_response_times.json"  # the same as in the journey
PERCENTILES = (0.50, 0.95, 0.99)
# The columns of a run's figures in the report's tables, all numbers.
FIGURES = ("requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms")


@dataclass(frozen=True)
class Figures:
    """Counts, throughput and latency percentiles (milliseconds) of some requests."""

    requests: int
    failures: int
    requests_per_second: float
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class Failure:
    method: str
    name: str
    error: str
    occurrences: int


@dataclass
class StageRun:
    """What one stage's load run left behind, read back from its files."""

    stage: str
    csv_prefix: Path
    exit_code: int | None = None  # Locust's; None when the run was not made by this tool
    error: str = ""  # why the run stopped short, if it did
    rows: list[RequestStats] = field(default_factory=list)
    histograms: list[dict] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @classmethod
    def read(
        cls, stage: str, csv_prefix: Path, exit_code: int | None = None, error: str = ""
    ) -> "StageRun":
        return cls(
            stage=stage,
            csv_prefix=csv_prefix,
            exit_code=exit_code,
            error=error,
            rows=read_stats(csv_prefix),
            histograms=_read_histograms(csv_prefix),
            failures=_read_failures(csv_prefix),
        )

    @property
    def measured(self) -> bool:
        return aggregated(self.rows) is not None

    def total(self) -> Figures | None:
        """Locust's own Aggregated row: the numbers a learner also sees in its output."""
        row = aggregated(self.rows)
        if row is None:
            return None
        return Figures(
            row.requests, row.failures, row.requests_per_second, row.p50, row.p95, row.p99
        )

    def group(self, group: str) -> Figures | None:
        """One endpoint group (its request names merged), with exact percentiles computed
        from the merged response-time histograms; None if the run made no such request."""
        entries = [entry for entry in self.histograms if group_of(entry["name"]) == group]
        total = self.total()
        if not entries or total is None:
            return None
        histogram: Counter[int] = Counter()
        for entry in entries:
            histogram.update({int(ms): count for ms, count in entry["response_times"].items()})
        requests = sum(entry["num_requests"] for entry in entries)
        failures = sum(entry["num_failures"] for entry in entries)
        # The group shares the run's clock: its share of the requests in the run's duration.
        seconds = total.requests / total.requests_per_second if total.requests_per_second else 0
        p50, p95, p99 = (percentile(histogram, share) for share in PERCENTILES)
        return Figures(requests, failures, requests / seconds if seconds else 0.0, p50, p95, p99)


def group_of(request_name: str) -> str:
    """'order lookup GET /api/orders/{id}/' -> 'order lookup'."""
    words = request_name.split(" ")
    for index, word in enumerate(words):
        if word.isupper() and index > 0:  # the HTTP method
            return " ".join(words[:index])
    return request_name


def markdown(runs: list[StageRun], *, title: str, settings: dict[str, str]) -> str:
    """The whole report: settings, a table per stage, a table per endpoint group, failures."""
    lines = [f"# {title}", "", "## Settings", "", settings_table(settings)]
    lines += ["", "## Per stage", "", stage_table(runs), "", "## Per endpoint group", ""]
    lines += [group_table(runs), "", "## Failures", ""]
    lines += failure_lines(runs)
    return "\n".join(lines) + "\n"


def settings_table(settings: dict[str, str]) -> str:
    return markdown_table(["setting", "value"], settings.items())


def stage_table(runs: list[StageRun]) -> str:
    columns = ["stage", *FIGURES]
    rows = [[run.stage, *_figures(run.total())] for run in runs]
    return markdown_table(columns, rows, numbers=FIGURES)


def group_table(runs: list[StageRun]) -> str:
    """One row per (group, stage), the stages of a group next to each other."""
    columns = ["endpoint group", "stage", *FIGURES]
    rows = [
        [group, run.stage, *_figures(run.group(group))] for group in ENDPOINT_GROUPS for run in runs
    ]
    return markdown_table(columns, rows, numbers=FIGURES)


def failure_lines(runs: list[StageRun]) -> list[str]:
    """Every failure of every run, shown, never summed away."""
    lines = []
    for run in runs:
        if not run.measured:
            lines.append(f"- **{run.stage}**: no figures (the run did not produce any)")
        elif run.failures:
            lines.append(f"- **{run.stage}**:")
            lines += [
                f"  - {failure.occurrences} × "
                f"{locust_run.label(failure.method, failure.name)}: {failure.error}"
                for failure in run.failures
            ]
        else:
            lines.append(f"- **{run.stage}**: none")
        if run.exit_code not in (None, 0):
            lines.append(f"  - Locust exited with code {run.exit_code}")
        if run.error:
            lines.append(f"  - the run stopped short: {run.error}")
    return lines


def chart(runs: list[StageRun], path: Path, *, title: str) -> None:
    """A PNG: latency percentiles per stage (grouped bars) beside throughput per stage."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display: works on a server and in CI
    import matplotlib.pyplot as plt

    measured = [run for run in runs if run.measured]
    stages = [run.stage for run in measured]
    totals = [run.total() for run in measured]
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(11, 4.5))
    width = 0.8 / len(PERCENTILES)
    for index, percentile_name in enumerate(("p50", "p95", "p99")):
        values = [getattr(total, percentile_name) or 0 for total in totals]
        positions = [stage_index + (index - 1) * width for stage_index in range(len(stages))]
        bars = latency.bar(positions, values, width, label=percentile_name)
        latency.bar_label(bars, fmt="%.0f", fontsize=8)
    latency.set_xticks(range(len(stages)), stages)
    latency.set_ylabel("milliseconds")
    latency.set_title("latency (lower is better)")
    latency.legend()
    bars = throughput.bar(stages, [total.requests_per_second for total in totals], color="gray")
    throughput.bar_label(bars, labels=[_throughput_label(total) for total in totals], fontsize=8)
    throughput.set_ylabel("requests per second")
    throughput.set_title("throughput (same users for every stage)")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def machine() -> dict[str, str]:
    """What the numbers were measured on: they mean little without it."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "commit": _git_commit(),
    }


def _throughput_label(total: Figures) -> str:
    failed = f"\n{total.failures} failed" if total.failures else ""
    return f"{total.requests_per_second:.1f}{failed}"


def _figures(figures: Figures | None) -> list[str]:
    """The cells of FIGURES; dashes when the run has none."""
    if figures is None:
        return ["-"] * len(FIGURES)
    return [
        str(figures.requests),
        str(figures.failures),
        f"{figures.requests_per_second:.1f}",
        _ms(figures.p50),
        _ms(figures.p95),
        _ms(figures.p99),
    ]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _read_histograms(csv_prefix: Path) -> list[dict]:
    path = csv_prefix.with_name(csv_prefix.name + RESPONSE_TIMES_SUFFIX)
    return json.loads(path.read_text()) if path.is_file() else []


def _read_failures(csv_prefix: Path) -> list[Failure]:
    path = csv_prefix.with_name(csv_prefix.name + "_failures.csv")
    if not path.is_file():
        return []
    with path.open(newline="") as failures_file:
        return [
            Failure(row["Method"], row["Name"], row["Error"], int(row["Occurrences"]))
            for row in csv.DictReader(failures_file)
            if row["Name"] != AGGREGATED
        ]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
