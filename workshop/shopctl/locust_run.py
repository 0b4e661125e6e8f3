"""Run Locust headless against a stage, and read back the `_stats.csv` it writes.

This module never imports locust: importing it monkey-patches the whole process for gevent,
which the tool, with its subprocesses and signal handling, must not be.
"""

import csv
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from shopctl import ShopctlError
from shopctl.tables import new_table

AGGREGATED = "Aggregated"


def locust_command(
    locustfile: Path,
    *,
    host: str,
    users: int,
    spawn_rate: float,
    run_time: str,
    csv_prefix: Path,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """The command line of a headless Locust run that writes <csv_prefix>_stats.csv & co."""
    return [
        sys.executable, "-m", "locust",
        "-f", str(locustfile),
        "--headless",
        "--users", str(users),
        "--spawn-rate", str(spawn_rate),
        "--run-time", run_time,
        "--host", host,
        "--csv", str(csv_prefix),
        # Locust's default: 1 when any request failed. Said out loud because callers rely on it.
        "--exit-code-on-error", "1",
        *extra,
    ]  # fmt: skip


@dataclass(frozen=True)
class RequestStats:
    method: str  # empty on the Aggregated row
    name: str
    requests: int
    failures: int
    requests_per_second: float
    p50: float | None  # milliseconds; None when there was no request
    p95: float | None
    p99: float | None


def read_stats(csv_prefix: Path) -> list[RequestStats]:
    """The rows of <csv_prefix>_stats.csv, one per request name, the Aggregated row last.

    Locust rewrites the file once a second while it runs; after the run it holds every
    request (the journey gives the writer a last tick before Locust closes the file).
    """
    path = csv_prefix.with_name(csv_prefix.name + "_stats.csv")
    if not path.is_file():
        return []
    with path.open(newline="") as stats_file:
        return [
            RequestStats(
                method=row["Type"],
                name=row["Name"],
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                requests_per_second=float(row["Requests/s"]),
                p50=_milliseconds(row["50%"]),
                p95=_milliseconds(row["95%"]),
                p99=_milliseconds(row["99%"]),
            )
            for row in csv.DictReader(stats_file)
        ]


# Locust's --run-time syntax: 90, 90s, 2m, 1h30m.
TIMESPAN = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s?)?$")


def seconds_of(timespan: str) -> int:
    """'1m30s' -> 90, as Locust reads --run-time; a clear error for anything else."""
    match = TIMESPAN.match(timespan.strip())
    if not timespan.strip() or not match:
        raise ShopctlError(f"{timespan!r} is not a duration; write e.g. 45s, 2m or 1h30m")
    hours, minutes, seconds = (int(match[unit] or 0) for unit in ("h", "m", "s"))
    return hours * 3600 + minutes * 60 + seconds


def percentile(histogram: Mapping[int, int], share: float) -> float | None:
    """The response time that `share` (0.95) of the requests took at most, from a
    {milliseconds: count} histogram; the same rule as Locust's own percentiles."""
    count = sum(histogram.values())
    if not count:
        return None
    allowed_above = count - int(count * share)
    slower = 0
    for milliseconds in sorted(histogram, reverse=True):
        slower += histogram[milliseconds]
        if slower >= allowed_above:
            return float(milliseconds)
    return float(min(histogram))


def aggregated(rows: list[RequestStats]) -> RequestStats | None:
    return next((row for row in rows if row.name == AGGREGATED), None)


def one_line(row: RequestStats) -> str:
    """'812 requests, 0 failures, 54.1 req/s, p50 23 ms, p95 120 ms'"""
    return (
        f"{row.requests} requests, {row.failures} failures, {row.requests_per_second:.1f} req/s, "
        f"p50 {_show(row.p50)} ms, p95 {_show(row.p95)} ms"
    )


def table(rows: list[RequestStats]) -> Table:
    """Every request name with its counts and percentiles, the Aggregated row under a rule."""
    numbers = ("requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms")
    stats = new_table("request", *numbers, numbers=numbers)
    for row in rows:
        cells = (
            label(row.method, row.name),
            str(row.requests),
            str(row.failures),
            f"{row.requests_per_second:.1f}",
            _show(row.p50),
            _show(row.p95),
            _show(row.p99),
        )
        if row.name == AGGREGATED:
            stats.show_footer = True
            for column, cell in zip(stats.columns, cells, strict=True):
                column.footer = cell
        else:
            stats.add_row(*cells)
    return stats


def label(method: str, name: str) -> str:
    """How a request is shown; a journey's names already say the method
    ("checkout POST /api/orders/"), so it is not said twice."""
    return name if method in name.split() else f"{method} {name}".strip()


def _milliseconds(value: str) -> float | None:
    return None if value in ("", "N/A") else float(value)


def _show(milliseconds: float | None) -> str:
    return "-" if milliseconds is None else f"{milliseconds:.0f}"
