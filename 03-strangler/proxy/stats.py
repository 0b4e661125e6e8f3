"""What the proxy has seen, for GET /_proxy/stats: requests and latency per route and side,
and the shadow comparisons (the parallel run's evidence)."""

import statistics
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field

# Latency percentiles come from the last LATENCY_WINDOW requests of a route and side: recent
# enough to show a change after an edit of the table, bounded in memory however long it runs.
LATENCY_WINDOW = 1000
KEPT_DIFFERENCES = 10


@dataclass
class SideStats:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)  # "2xx": 120, "5xx": 1
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))

    def as_json(self) -> dict:
        return {
            "requests": self.requests,
            "statuses": dict(sorted(self.statuses.items())),
            "latency_ms": percentiles(list(self.latencies_ms)),
        }


@dataclass
class ShadowStats:
    matches: int = 0
    differences: int = 0
    errors: int = 0  # the service did not answer (down, slow): no comparison possible
    skipped: int = 0  # too many copies in flight, or a body too big to compare
    last_differences: deque = field(default_factory=lambda: deque(maxlen=KEPT_DIFFERENCES))

    def as_json(self) -> dict:
        return {
            "matches": self.matches,
            "differences": self.differences,
            "errors": self.errors,
            "skipped": self.skipped,
            "last_differences": list(self.last_differences),
        }


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50 and p95 in milliseconds, rounded; None before there is anything to measure."""
    if not values:
        return {"p50": None, "p95": None}
    if len(values) == 1:
        return {"p50": round(values[0], 2), "p95": round(values[0], 2)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 2), "p95": round(cuts[94], 2)}


class Stats:
    def __init__(self) -> None:
        self.sides: dict[str, dict[str, SideStats]] = defaultdict(lambda: defaultdict(SideStats))
        self.shadows: dict[str, ShadowStats] = defaultdict(ShadowStats)

    def record(self, route: str, side: str, status: int, elapsed_ms: float) -> None:
        side_stats = self.sides[route][side]
        side_stats.requests += 1
        side_stats.statuses[f"{status // 100}xx"] += 1
        side_stats.latencies_ms.append(elapsed_ms)

    def shadow(self, route: str) -> ShadowStats:
        return self.shadows[route]

    def as_json(self) -> dict:
        routes = {
            route: {side: stats.as_json() for side, stats in sorted(sides.items())}
            for route, sides in sorted(self.sides.items())
        }
        return {
            "routes": routes,
            "shadow": {route: stats.as_json() for route, stats in sorted(self.shadows.items())},
        }
