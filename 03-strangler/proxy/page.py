"""GET /_proxy/: what /_proxy/routes and /_proxy/stats say, as one HTML page for a person (or
a classroom's projector): the route table, the traffic split per route and side, and the
parallel run's latest differences. It draws itself again every REFRESH_SECONDS.

The page is drawn here, in Python, from the same dicts the two JSON answers are made of, and
only here: its small script fetches the page again and swaps the new <main> in (no CDN, no
framework, and nothing drawn twice in two languages). Every value that came from traffic is
escaped on the way in: a shadowed path is whatever a client sent, a difference quotes what
the upstreams answered, and `<script>` in either must show as text. The Content-Security-
Policy lets only this module's own script and style run, as a second line of defence.
"""

import base64
import hashlib
from html import escape

REFRESH_SECONDS = 2

STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.8em; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
code, .path { font-family: ui-monospace, monospace; }
.error { color: #a00; font-weight: bold; }
.quiet { color: #777; }
meter { width: 10em; }
"""

# Fetch the page, put its new <main> in place of the old one; say so when the proxy is gone.
SCRIPT = f"""
setInterval(async () => {{
  const status = document.getElementById("refresh");
  try {{
    const response = await fetch(location.pathname, {{cache: "no-store"}});
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    document.querySelector("main").replaceWith(page.querySelector("main"));
    status.textContent = "";
  }} catch (error) {{
    status.textContent = "The proxy is not answering; trying again.";
  }}
}}, {REFRESH_SECONDS * 1000});
"""


def _source_hash(source: str) -> str:
    """A CSP source for one inline <script> or <style>: the SHA-256 of its exact text."""
    digest = hashlib.sha256(source.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; script-src {_source_hash(SCRIPT)}; "
        f"style-src {_source_hash(STYLE)}; connect-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def render(routes: dict, stats: dict) -> str:
    """The page, from the JSON of /_proxy/routes and /_proxy/stats."""
    error = routes["error"]
    rejected = (
        f'<p class="error">The file\'s current content is refused: {escape(error)}. '
        "The last good table stays in force.</p>"
        if error
        else ""
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Strangler proxy</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>Strangler proxy</h1>
<p>Route table <code>{escape(routes["file"])}</code>, loaded {escape(routes["loaded_at"])}.
Counters since the proxy started; latency over each side's last 1,000 requests.</p>
{rejected}
<h2>Routes</h2>
{_route_table(routes)}
<h2>Traffic split</h2>
{_traffic(routes, stats["routes"])}
<h2>Parallel run</h2>
{_shadows(stats["shadow"], stats["shadows_in_flight"])}
</main>
<p id="refresh" class="error"></p>
<p class="quiet">Redrawn every {REFRESH_SECONDS} s. The same in JSON:
<a href="/_proxy/routes">/_proxy/routes</a>, <a href="/_proxy/stats">/_proxy/stats</a>.</p>
<script>{SCRIPT}</script>
</body>
</html>
"""


def _table(headings: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{heading}</th>" for heading in headings)
    return f"<table>\n<tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>"


def _cell(value: object, *, number: bool = False) -> str:
    shown = "–" if value is None else escape(str(value))
    return f'<td class="number">{shown}</td>' if number else f"<td>{shown}</td>"


def _route_table(routes: dict) -> str:
    rows = []
    for route in routes["routes"]:
        mode = route["mode"] + (f" {route['percent']} %" if route["mode"] == "canary" else "")
        answers = "monolith" if route["mode"] in ("monolith", "shadow") else route["service"]
        if route["mode"] == "canary":
            answers = f"{route['service']} or monolith"
        rows.append(
            "<tr>"
            + _cell(route["name"])
            + _cell(" ".join(route["methods"]))
            + f'<td class="path">{escape(route["prefix"])}</td>'
            + _cell(mode)
            + _cell(answers)
            + "</tr>"
        )
    rows.append(
        "<tr>"
        + _cell("(unmatched)")
        + _cell("*")
        + '<td class="quiet">anything else</td>'
        + _cell("monolith")
        + _cell(routes["unmatched"])
        + "</tr>"
    )
    upstreams = ", ".join(
        f"{escape(name)} <code>{escape(url)}</code>" for name, url in routes["upstreams"].items()
    )
    table = _table(["route", "methods", "prefix", "mode", "answered by"], rows)
    return f"{table}\n<p>Upstreams: {upstreams}.</p>"


def _traffic(routes: dict, by_route: dict) -> str:
    """Per route (the table's first, then any other the counters know), each side's share."""
    names = [route["name"] for route in routes["routes"]] + ["(unmatched)"]
    names += [name for name in by_route if name not in names]  # renamed or removed since
    rows = []
    for name in names:
        sides = by_route.get(name, {})
        total = sum(side["requests"] for side in sides.values())
        if not total:
            rows.append(
                f"<tr>{_cell(name)}{_cell('–')}{_cell(0, number=True)}<td></td>"
                f"{_cell(None)}{_cell(None, number=True)}{_cell(None, number=True)}</tr>"
            )
        for side, counts in sides.items():
            share = round(100 * counts["requests"] / total)
            statuses = ", ".join(f"{status}: {n}" for status, n in counts["statuses"].items())
            rows.append(
                "<tr>"
                + _cell(name)
                + _cell(side)
                + _cell(counts["requests"], number=True)
                + f'<td><meter min="0" max="100" value="{share}"></meter> {share} %</td>'
                + _cell(statuses)
                + _cell(counts["latency_ms"]["p50"], number=True)
                + _cell(counts["latency_ms"]["p95"], number=True)
                + "</tr>"
            )
    headings = ["route", "side", "requests", "share", "statuses", "p50 ms", "p95 ms"]
    return _table(headings, rows)


def _shadows(shadows: dict, in_flight: int) -> str:
    if not shadows:
        return "<p>No route is in <code>shadow</code> mode, or none has had a read yet.</p>"
    counts = [
        "<tr>"
        + _cell(name)
        + "".join(
            _cell(shadow[key], number=True)
            for key in ("matches", "differences", "errors", "skipped")
        )
        + "</tr>"
        for name, shadow in shadows.items()
    ]
    parts = [
        _table(["route", "matches", "differences", "errors", "skipped"], counts),
        f"<p>Copies in flight: {in_flight}.</p>",
    ]
    for name, shadow in shadows.items():
        if not shadow["last_differences"]:
            continue
        parts.append(f"<h3>Latest differences: {escape(name)}</h3>")
        rows = [
            "<tr>"
            + _cell(difference["time"])
            + _cell(difference["method"])
            + f'<td class="path">{escape(difference["path"])}</td>'
            + _cell(difference["request_id"])
            + "<td><ul>"
            + "".join(f"<li>{escape(detail)}</li>" for detail in difference["differences"])
            + "</ul></td></tr>"
            for difference in reversed(shadow["last_differences"])  # the newest first
        ]
        parts.append(_table(["time (UTC)", "method", "path", "request id", "what differs"], rows))
    return "\n".join(parts)
