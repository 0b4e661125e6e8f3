"""The route table: which side answers a request, read from routes.toml and reloaded on change.

A route matches by method and path prefix; of the routes that match, the longest prefix wins,
and a path no route matches goes to the monolith. Each route has a mode:

- ``monolith``: the monolith answers (where every route starts);
- ``service``: the extracted service answers;
- ``shadow``: the monolith answers; a copy of the request goes to the service in the
  background and the two answers are compared (reads only: a copied write would write twice);
- ``canary``: ``percent`` of the clients go to the service, the others to the monolith,
  each client always to the same side.
"""

import hashlib
import logging
import re
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("proxy.routes")

MONOLITH = "monolith"
MODES = ("monolith", "service", "shadow", "canary")
# The methods a shadow copy may use: they change nothing, so sending them twice is harmless.
SAFE_METHODS = frozenset({"GET", "HEAD"})
ALL_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DEFAULT_SERVICE = "catalog"
ROUTE_KEYS = {"name", "methods", "prefix", "mode", "service", "percent", "ignore"}
# How often, at most, the file's modification time is looked at.
RELOAD_CHECK_SECONDS = 1.0
_ROUTE_HEADER = re.compile(r"^\s*\[\[\s*route\s*\]\]")


class RouteTableError(ValueError):
    """A route table that cannot be used; the message names the file's line."""


@dataclass(frozen=True)
class Route:
    name: str
    prefix: str
    methods: frozenset[str]
    mode: str = MONOLITH
    service: str = DEFAULT_SERVICE  # the upstream of `service`, `shadow` and `canary`
    percent: int = 0  # canary only: the share of clients sent to the service
    ignore: tuple[str, ...] = ()  # shadow only: JSON keys left out of the comparison
    line: int = 0  # where the route starts in the file, for error messages

    def matches(self, method: str, path: str) -> bool:
        return method in self.methods and path.startswith(self.prefix)

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "prefix": self.prefix,
            "methods": sorted(self.methods),
            "mode": self.mode,
            "service": self.service,
            "percent": self.percent,
            "ignore": list(self.ignore),
            "line": self.line,
        }


# What answers a path no route matches: the monolith still owns everything not yet extracted.
FALLBACK = Route(name="(unmatched)", prefix="/", methods=ALL_METHODS, mode=MONOLITH)


@dataclass(frozen=True)
class RouteTable:
    routes: tuple[Route, ...] = ()

    def match(self, method: str, path: str) -> Route:
        """The matching route with the longest prefix, or FALLBACK. Any route beats FALLBACK,
        even one with its prefix, "/": that is how a table sends everything to a service."""
        best = None
        for route in self.routes:
            if route.matches(method, path) and (
                best is None or len(route.prefix) > len(best.prefix)
            ):
                best = route
        return best or FALLBACK


def canary_bucket(client_key: str) -> int:
    """0..99, the same for the same client every time (and in every proxy process).

    A cryptographic hash, not Python's hash(), which is salted per process: a client would
    change sides whenever the proxy restarts. The route is not part of the key, so raising a
    canary from 10 to 20 % keeps the first 10 % where they are and adds another 10 %.
    """
    digest = hashlib.sha256(client_key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def side_for(route: Route, client_key: str) -> str:
    """The upstream that answers this request: "monolith" or the route's service."""
    if route.mode == "service":
        return route.service
    if route.mode == "canary" and canary_bucket(client_key) < route.percent:
        return route.service
    return MONOLITH  # monolith, shadow (the monolith answers), canary for the others


def should_shadow(route: Route, method: str) -> bool:
    """Only reads are copied: a copied POST would create the order twice."""
    return route.mode == "shadow" and method in SAFE_METHODS


# ---- Reading the file ---------------------------------------------------------------------


def parse_table(text: str, upstreams: set[str]) -> RouteTable:
    """The table in `text` (TOML, [[route]] tables); RouteTableError names the faulty line."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:  # its message ends "(at line 7, column 3)"
        raise RouteTableError(f"not valid TOML: {error}") from error
    unknown = set(document) - {"route"}
    if unknown:
        raise RouteTableError(f"unknown top-level key(s) {sorted(unknown)}; expected [[route]]")
    raw_routes = document.get("route", [])
    if not isinstance(raw_routes, list):
        raise RouteTableError("`route` must be an array of tables: write [[route]]")
    lines = _route_lines(text)
    routes = []
    for index, raw in enumerate(raw_routes):
        line = lines[index] if index < len(lines) else 0
        try:
            routes.append(_parse_route(raw, upstreams, line))
        except RouteTableError as error:
            raise RouteTableError(f"line {line}: route {index + 1}: {error}") from None
    _refuse_duplicates(routes)
    return RouteTable(tuple(routes))


def _route_lines(text: str) -> list[int]:
    """The line number of each [[route]] header: tomllib does not say where a table was."""
    return [number for number, line in enumerate(text.splitlines(), 1) if _ROUTE_HEADER.match(line)]


def _parse_route(raw: dict, upstreams: set[str], line: int) -> Route:
    unknown = set(raw) - ROUTE_KEYS
    if unknown:
        raise RouteTableError(f"unknown key(s) {sorted(unknown)}; known: {sorted(ROUTE_KEYS)}")
    prefix = raw.get("prefix")
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise RouteTableError(f"`prefix` must be a path starting with /, not {prefix!r}")
    methods = _parse_methods(raw.get("methods", ["*"]))
    mode = raw.get("mode", MONOLITH)
    if mode not in MODES:
        raise RouteTableError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    service = raw.get("service", DEFAULT_SERVICE)
    if mode != MONOLITH and service not in upstreams:
        raise RouteTableError(f"service {service!r} is not a known upstream ({sorted(upstreams)})")
    percent = raw.get("percent", 0)
    if mode == "canary" and (not isinstance(percent, int) or not 0 <= percent <= 100):
        raise RouteTableError(f"a canary needs `percent`, a whole number 0..100, not {percent!r}")
    # A shadow route that names a write is a mistake to point out; one that leaves `methods`
    # out (every method) is fine: its writes simply go to the monolith, uncopied.
    if mode == "shadow" and methods - SAFE_METHODS and "methods" in raw:
        raise RouteTableError(
            f"shadow mode copies reads only (GET, HEAD), not {sorted(methods - SAFE_METHODS)}: "
            "a copied write would be done twice"
        )
    ignore = raw.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(key, str) for key in ignore):
        raise RouteTableError('`ignore` must be a list of JSON keys, e.g. ["updated_at"]')
    name = raw.get("name") or _default_name(methods, prefix)
    return Route(
        name=name,
        prefix=prefix,
        methods=methods,
        mode=mode,
        service=service,
        percent=percent if mode == "canary" else 0,
        ignore=tuple(ignore),
        line=line,
    )


def _default_name(methods: frozenset[str], prefix: str) -> str:
    """`GET HEAD /api/products/`, or `* /api/` for every method."""
    listed = "*" if methods == ALL_METHODS else " ".join(sorted(methods))
    return f"{listed} {prefix}"


def _parse_methods(raw: object) -> frozenset[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise RouteTableError(f'`methods` must be a list such as ["GET", "HEAD"], not {raw!r}')
    methods = {str(method).upper() for method in raw}
    if "*" in methods:
        return ALL_METHODS
    unknown = methods - ALL_METHODS
    if unknown:
        raise RouteTableError(f"unknown method(s) {sorted(unknown)}")
    return frozenset(methods)


def _refuse_duplicates(routes: list[Route]) -> None:
    """Two routes with one prefix and a method in common: which one wins would be a guess."""
    for index, route in enumerate(routes):
        for earlier in routes[:index]:
            shared = route.methods & earlier.methods
            if route.prefix == earlier.prefix and shared:
                raise RouteTableError(
                    f"line {route.line}: route {route.name!r} repeats prefix {route.prefix} "
                    f"for {sorted(shared)}, already routed on line {earlier.line}"
                )


@dataclass
class RouteFile:
    """The table of a file, reloaded when the file changes; a broken edit keeps the last
    good table (the proxy keeps serving) and says what is wrong, once."""

    path: Path
    upstreams: set[str]
    table: RouteTable = field(default_factory=RouteTable)
    error: str | None = None  # why the file's current content is not in use
    loaded_at: float = 0.0  # time.time() of the last successful load
    _signature: tuple[int, int] | None = None
    _checked_at: float = float("-inf")

    def load(self) -> None:
        """Read the file now; raise RouteTableError if it is unusable (used at start-up)."""
        self._signature = self._stat()
        self.table = parse_table(self.path.read_text(), self.upstreams)
        self.error = None
        self.loaded_at = time.time()
        log.info("event=routes_loaded file=%s routes=%d", self.path, len(self.table.routes))
        for route in self.table.routes:
            log.info(
                "event=route name=%r methods=%s prefix=%s mode=%s%s",
                route.name,
                ",".join(sorted(route.methods)),
                route.prefix,
                route.mode,
                f" percent={route.percent}" if route.mode == "canary" else "",
            )

    def current(self) -> RouteTable:
        """The table in force; looks at the file at most once per RELOAD_CHECK_SECONDS."""
        now = time.monotonic()
        if now - self._checked_at >= RELOAD_CHECK_SECONDS:
            self._checked_at = now
            self.reload_if_changed()
        return self.table

    def reload_if_changed(self) -> None:
        try:
            signature = self._stat()
        except OSError as error:
            self._fail(f"cannot read {self.path}: {error}", signature=None)
            return
        if signature == self._signature:
            return
        try:
            self.load()
        except (RouteTableError, OSError, UnicodeDecodeError) as error:
            self._fail(f"{self.path}: {error}", signature=signature)

    def _fail(self, message: str, signature: tuple[int, int] | None) -> None:
        if message != self.error:  # log once per broken version, not once a second
            log.error("event=routes_rejected keeping=last_good_table error=%r", message)
        self.error = message
        self._signature = signature

    def _stat(self) -> tuple[int, int]:
        """Modification time and size: an edit within one mtime tick still changes the size."""
        stat = self.path.stat()
        return stat.st_mtime_ns, stat.st_size
