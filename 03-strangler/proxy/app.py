"""The proxy's aiohttp application: one handler forwards every request to the side the route
table names, the request once its body is whole (413 over the limit, 408 for a body that
trickles), the answer read whole when small, else streamed back as it comes; /_proxy/routes
and /_proxy/stats show what it does, /_proxy/ the same as a page. Every error the proxy
answers itself is in the API's error envelope (`error_envelope`)."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import aiohttp
from aiohttp import web
from kernel import telemetry
from kernel.errors import RETRY_AFTER_SECONDS  # what the monolith says with its own 503s
from kernel.request_ids import valid_request_id  # the monolith's rule for a sane id
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from proxy import metrics, page
from proxy.routes import MONOLITH, SAFE_METHODS, Route, RouteFile, should_shadow, side_for
from proxy.settings import Settings
from proxy.shadow import compare, difference_record
from proxy.stats import Stats

log = logging.getLogger("proxy")

# Headers about one connection, not the message: a proxy must not pass them on (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# The proxy's own server has already answered `Expect: 100-continue` to the client; passed on,
# the upstream would answer it a second time.
ANSWERED_BY_THE_PROXY = frozenset({"expect"})
# Shadowing buffers the monolith's body to compare it; above this the copy is skipped.
MAX_SHADOW_BODY_BYTES = 1024 * 1024
# An answer of at most this many bytes, with a Content-Length, is read whole and sent in one
# write; a larger one, or one of unknown length, is streamed. Never above the shadow limit:
# a buffered body is the one a shadow compares.
MAX_BUFFERED_BODY_BYTES = 64 * 1024
# Shadow copies are extra load on the service: past this many in flight, new ones are skipped.
MAX_SHADOWS_IN_FLIGHT = 50
CONNECTIONS_PER_UPSTREAM = 100
# The monolith's own limit on a request body (API.md, "Limits"): the proxy buffers each body
# before it forwards it, and refuses a bigger one with 413 before reading it all.
MAX_BODY_BYTES = 1024 * 1024
READINESS_TIMEOUT = 3  # seconds each upstream's readiness may take


@dataclass
class Upstream:
    """One place requests go to, with its own pool of keep-alive connections."""

    name: str
    base_url: str
    session: aiohttp.ClientSession | None = None  # opened when the app starts

    def url_for(self, path_qs: str) -> URL:
        # encoded=True: the path and query go on exactly as the client sent them.
        return URL(self.base_url + path_qs, encoded=True)


@dataclass
class ProxyState:
    settings: Settings
    routes: RouteFile
    upstreams: dict[str, Upstream]
    stats: Stats = field(default_factory=Stats)
    shadow_tasks: set[asyncio.Task] = field(default_factory=set)


STATE = web.AppKey("state", ProxyState)


class UpstreamUnavailable(Exception):
    """The upstream did not answer in time, refused, or went away before its headers."""


def make_app(settings: Settings) -> web.Application:
    """The application, with its route table loaded: a broken table fails here, at start-up."""
    routes = RouteFile(settings.routes_file, set(settings.upstreams))
    routes.load()
    upstreams = {name: Upstream(name, url) for name, url in settings.upstreams.items()}
    # Outermost first: the trace id goes on every answer, the proxy's own errors included.
    app = web.Application(
        middlewares=[trace_id_on_answers, error_envelope], client_max_size=MAX_BODY_BYTES
    )
    app[STATE] = ProxyState(settings=settings, routes=routes, upstreams=upstreams)
    app.cleanup_ctx.append(upstream_sessions)
    app.router.add_get("/_proxy/", show_page)  # the two below, as a page for a person
    app.router.add_get("/_proxy/routes", show_routes)
    app.router.add_get("/_proxy/stats", show_stats)
    app.router.add_get("/metrics", metrics.show_metrics)  # the proxy's own, for Prometheus
    app.router.add_get("/api/health/ready/", readiness)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def upstream_sessions(app: web.Application) -> AsyncIterator[None]:
    """One pooled ClientSession per upstream, for the app's lifetime (cleanup_ctx).

    A session per request would pay a new TCP connection (and a new pool) every time.
    """
    state = app[STATE]
    timeout = aiohttp.ClientTimeout(
        total=None,  # a long, steadily flowing download is fine...
        connect=state.settings.timeout,  # ...but not waiting this long for a connection
        sock_read=state.settings.timeout,  # ...nor this long for the next bytes
    )
    for upstream in state.upstreams.values():
        upstream.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONNECTIONS_PER_UPSTREAM, keepalive_timeout=30),
            timeout=timeout,
            # The proxy is transparent: bytes pass as they are (compressed or not), cookies
            # belong to each client and must not be kept and replayed to the next one, and
            # no header the client did not send is added.
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
    yield
    if state.shadow_tasks:  # let the comparisons in flight finish, briefly
        await asyncio.wait(state.shadow_tasks, timeout=2)
    for upstream in state.upstreams.values():
        if upstream.session is not None:
            await upstream.session.close()


# ---- Errors the proxy answers itself --------------------------------------------------------

# API.md's codes for the statuses aiohttp raises; any other is named after its HTTP phrase.
ERROR_CODES = {
    400: "validation_error",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    503: "service_unavailable",
}


def error_response(status: int, message: str, headers: dict[str, str] | None = None):
    phrase_code = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    code = ERROR_CODES.get(status, "internal_error" if status >= 500 else phrase_code)
    body = {"error": {"code": code, "message": message}}
    return web.json_response(
        body, status=status, headers={**(headers or {}), "X-Served-By": "proxy"}
    )


@web.middleware
async def error_envelope(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp answers its own errors (an HTTPException, a bug) in text/plain: here they get
    the API's envelope, as every answer of the monolith and the service does.

    What aiohttp's HTTP parser refuses before any handler runs (a request line or header over
    8190 bytes, a malformed request) it still answers itself, in text (API.md, "Limits").
    """
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise  # a redirect or the like: not an error
        message = error.text if error.status == 413 else f"{error.reason}."  # 413: the sizes
        headers = {name: value for name, value in error.headers.items() if name == "Allow"}
        return error_response(error.status, message, headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("event=proxy_error method=%s path=%s", request.method, request.path)
        return error_response(500, "Something went wrong on our side.")


# ---- The proxy ------------------------------------------------------------------------------


@web.middleware
async def trace_id_on_answers(request: web.Request, handler) -> web.StreamResponse:
    """X-Trace-Id (API.md) on the proxy's own answers; a relayed answer gets it with the
    rest of its headers (answer_headers), before a streamed one's go out. The trace is the
    proxy's: the one the whole request shares, from here to the catalog service."""
    response = await handler(request)
    if not response.prepared:
        response.headers.update(telemetry.trace_id_header())
    return response


async def forward(request: web.Request) -> web.StreamResponse:
    """Route, relay, count, log; start the shadow copy if the route asks for one."""
    state = request.app[STATE]
    started = time.perf_counter()
    request_id = request_id_for(request)
    route = state.routes.current().match(request.method, request.path)
    side = side_for(route, client_key(request))
    shadowing = should_shadow(route, request.method)
    request_body = await whole_body(request, state.settings.body_timeout)
    try:
        response, body = await relay(
            request, state.upstreams[side], request_id, request_body, keep=shadowing
        )
    except UpstreamUnavailable as error:
        response, body = service_unavailable(side, str(error), request_id), None
    elapsed_ms = (time.perf_counter() - started) * 1000
    state.stats.record(route.name, side, response.status, elapsed_ms)
    metrics.observe(route.name, side, response.status, elapsed_ms / 1000)
    log.info(
        "event=request method=%s path=%s status=%d side=%s route=%r ms=%.1f request_id=%s",
        request.method,
        request.path,
        response.status,
        side,
        route.name,
        elapsed_ms,
        request_id,
    )
    if shadowing and body is not None:
        start_shadow(state, route, request, request_id, (response.status, body))
    return response


async def whole_body(request: web.Request, timeout: float) -> bytes | None:
    """The request's body, read to its end before anything goes upstream; None if it has none.

    Streaming the body through would hand the upstream a client's pace: a client sending one
    byte every few seconds would hold one of the monolith's four sync workers for as long as
    it likes, and four such clients hold them all. Here it costs the proxy one coroutine and
    at most MAX_BODY_BYTES, for at most `timeout` seconds (then 408); aiohttp refuses a body
    over MAX_BODY_BYTES with 413 (the app's client_max_size).
    """
    if not request.body_exists:
        return None
    try:
        async with asyncio.timeout(timeout):
            return await request.read()
    except TimeoutError:
        log.info(
            "event=slow_request_body method=%s path=%s seconds=%g",
            request.method,
            request.path,
            timeout,
        )
        raise web.HTTPRequestTimeout(
            text=f"The request body did not arrive within {timeout:g} seconds."
        ) from None
    except ConnectionResetError:  # the client hung up mid-body: nobody is left to answer
        log.info("event=client_gone_mid_body method=%s path=%s", request.method, request.path)
        raise web.HTTPBadRequest(text="The request body ended before its end.") from None


def request_id_for(request: web.Request) -> str:
    """The client's X-Request-ID if it sent a sane one, else a new one: one id, every hop."""
    return valid_request_id(request.headers.get("X-Request-ID", ""))


def client_key(request: web.Request) -> str:
    """Who the client is, for a sticky canary: X-Client-ID if sent, else its address."""
    return request.headers.get("X-Client-ID", "")[:200] or request.remote or "unknown"


def upstream_headers(request: web.Request, request_id: str) -> CIMultiDict:
    """The client's headers minus hop-by-hop ones, with the request id and who forwarded it.

    Host is passed on, so that the monolith builds links (pagination's `next`) to the proxy.
    """
    headers = without_hop_by_hop(request.headers)
    for name in ANSWERED_BY_THE_PROXY:
        headers.popall(name, None)
    headers["X-Request-ID"] = request_id
    forwarded_for = request.headers.get("X-Forwarded-For")
    client = request.remote or "unknown"
    headers["X-Forwarded-For"] = f"{forwarded_for}, {client}" if forwarded_for else client
    return headers


def without_hop_by_hop(headers: CIMultiDictProxy) -> CIMultiDict:
    """A copy without the hop-by-hop headers, nor those the Connection header names."""
    named = {
        name.strip().lower()
        for value in headers.getall("Connection", [])
        for name in value.split(",")
    }
    return CIMultiDict(
        (name, value)
        for name, value in headers.items()
        if name.lower() not in HOP_BY_HOP and name.lower() not in named
    )


async def relay(
    request: web.Request, upstream: Upstream, request_id: str, body: bytes | None, *, keep: bool
) -> tuple[web.StreamResponse, bytes | None]:
    """Send the request (with its whole `body`) upstream and pass the answer back.

    Returns the response and, if `keep`, the body as sent (None when it was too big or cut).
    Raises UpstreamUnavailable if nothing was sent to the client yet.
    """
    upstream_response = await open_upstream(request, upstream, request_id, body)
    async with upstream_response:  # gives the connection back to the pool
        length = upstream_response.content_length
        if request.method != "HEAD" and length is not None and length <= MAX_BUFFERED_BODY_BYTES:
            return await relay_whole(upstream_response, upstream, request_id, keep=keep)
        return await relay_streaming(request, upstream_response, upstream, request_id, keep=keep)


def answer_headers(upstream_response: aiohttp.ClientResponse, upstream: Upstream, request_id: str):
    headers = without_hop_by_hop(upstream_response.headers)
    headers["X-Request-ID"] = request_id
    headers["X-Served-By"] = upstream.name
    headers.update(telemetry.trace_id_header())
    return headers


async def relay_whole(
    upstream_response: aiohttp.ClientResponse, upstream: Upstream, request_id: str, *, keep: bool
) -> tuple[web.Response, bytes | None]:
    """A small answer of known length (an API's JSON, nearly always): read whole, then sent in
    one write. Streaming it cost the proxy a write per chunk and for the headers and the end,
    and a profile of the proxy showed those writes among its largest costs. And an upstream
    failing mid-body is still a clean 503 here: nothing was sent yet."""
    try:
        body = await upstream_response.read()
    except (aiohttp.ClientError, TimeoutError) as error:
        raise UpstreamUnavailable(f"{upstream.name}: {describe(error)}") from error
    headers = answer_headers(upstream_response, upstream, request_id)
    headers.popall("Content-Length", None)  # web.Response sets it from the body
    response = web.Response(
        status=upstream_response.status,
        reason=upstream_response.reason,
        body=body,
        headers=headers,
    )
    return response, body if keep else None


async def relay_streaming(
    request: web.Request,
    upstream_response: aiohttp.ClientResponse,
    upstream: Upstream,
    request_id: str,
    *,
    keep: bool,
) -> tuple[web.StreamResponse, bytes | None]:
    """A large answer, or one of unknown length: streamed back as it arrives. Once the
    headers are out, a failure can only cut the connection, which the client sees as a short
    body."""
    response = web.StreamResponse(status=upstream_response.status, reason=upstream_response.reason)
    response.headers.extend(answer_headers(upstream_response, upstream, request_id))
    await response.prepare(request)
    kept: bytearray | None = bytearray() if keep else None
    try:
        async for chunk in upstream_response.content.iter_any():
            await response.write(chunk)
            if kept is not None and len(kept) + len(chunk) > MAX_SHADOW_BODY_BYTES:
                kept = None  # too big to compare: the shadow copy is skipped
            elif kept is not None:
                kept.extend(chunk)
    except ConnectionResetError:  # mostly the client hanging up: nobody left to tell
        log.info("event=connection_reset_mid_body side=%s request_id=%s", upstream.name, request_id)
        return response, None
    except (aiohttp.ClientError, TimeoutError) as error:
        log.warning(
            "event=upstream_failed_mid_body side=%s error=%r request_id=%s",
            upstream.name,
            describe(error),
            request_id,
        )
        if request.transport is not None:
            request.transport.close()  # no end-of-body marker: the client knows it is cut
        return response, None
    await response.write_eof()
    return response, bytes(kept) if kept is not None else None


async def open_upstream(
    request: web.Request, upstream: Upstream, request_id: str, body: bytes | None
) -> aiohttp.ClientResponse:
    """The upstream's response, headers read, body still to stream."""
    assert upstream.session is not None, "the app's cleanup_ctx opens the sessions"
    # A pooled connection the upstream closed meanwhile fails at once; a read without a body
    # can safely be sent again, once, on a fresh connection.
    attempts = 2 if body is None and request.method in SAFE_METHODS else 1
    for attempt in range(1, attempts + 1):
        try:
            return await upstream.session.request(
                request.method,
                upstream.url_for(request.raw_path),
                headers=upstream_headers(request, request_id),
                data=body,
                allow_redirects=False,  # a redirect is the client's to follow
            )
        except aiohttp.ServerDisconnectedError as error:
            if attempt == attempts:
                raise UpstreamUnavailable(f"{upstream.name}: {describe(error)}") from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise UpstreamUnavailable(f"{upstream.name}: {describe(error)}") from error
    raise AssertionError("unreachable: the last attempt returns or raises")


def describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no answer within the timeout"
    return f"{type(error).__name__}: {error}".rstrip(": ")


def service_unavailable(side: str, reason: str, request_id: str) -> web.Response:
    """The API's 503 envelope (API.md): the client may try again after Retry-After."""
    log.warning(
        "event=upstream_unavailable side=%s reason=%r request_id=%s", side, reason, request_id
    )
    body = {
        "error": {
            "code": "service_unavailable",
            "message": f"The {side} is not answering; try again in a few seconds.",
        }
    }
    headers = {
        "Retry-After": RETRY_AFTER_SECONDS,
        "X-Request-ID": request_id,
        "X-Served-By": "proxy",
    }
    return web.json_response(body, status=503, headers=headers)


# ---- Shadow copies --------------------------------------------------------------------------


def start_shadow(
    state: ProxyState,
    route: Route,
    request: web.Request,
    request_id: str,
    monolith_answer: tuple[int, bytes],
) -> None:
    """Send the same read to the route's service in the background, and compare later.

    The client's answer is already on its way: a slow or failing service costs it nothing.
    """
    shadow_stats = state.stats.shadow(route.name)
    if len(state.shadow_tasks) >= MAX_SHADOWS_IN_FLIGHT:
        shadow_stats.skipped += 1
        return
    headers = upstream_headers(request, request_id)
    headers["X-Shadow-Request"] = "1"  # the service may log it, or must not count it as a visit
    task = asyncio.create_task(
        shadow_copy(
            state,
            route,
            method=request.method,
            path_qs=request.raw_path,
            headers=headers,
            request_id=request_id,
            monolith_answer=monolith_answer,
        )
    )
    state.shadow_tasks.add(task)  # a task nobody references may be garbage-collected mid-way
    task.add_done_callback(state.shadow_tasks.discard)


async def shadow_copy(
    state: ProxyState,
    route: Route,
    *,
    method: str,
    path_qs: str,
    headers: CIMultiDict,
    request_id: str,
    monolith_answer: tuple[int, bytes],
) -> None:
    shadow_stats = state.stats.shadow(route.name)
    service = state.upstreams[route.service]
    assert service.session is not None
    try:
        async with service.session.request(
            method, service.url_for(path_qs), headers=headers, allow_redirects=False
        ) as response:
            service_answer = (response.status, await response.read())
    except (aiohttp.ClientError, TimeoutError) as error:
        shadow_stats.errors += 1
        log.warning(
            "event=shadow_failed route=%r service=%s error=%r request_id=%s",
            route.name,
            service.name,
            describe(error),
            request_id,
        )
        return
    details = compare(monolith_answer, service_answer, route.ignore)
    if not details:
        shadow_stats.matches += 1
        return
    shadow_stats.differences += 1
    shadow_stats.last_differences.append(
        difference_record(method=method, path=path_qs, request_id=request_id, details=details)
    )
    log.info(
        "event=shadow_difference route=%r path=%s first=%r request_id=%s",
        route.name,
        path_qs,
        details[0],
        request_id,
    )


# ---- What the proxy shows about itself ------------------------------------------------------


async def readiness(request: web.Request) -> web.Response:
    """The stage's readiness: the monolith's own checks, plus one check per service that a
    route of the table in force sends requests to ("catalog_http"). Ready when all are ok.

    Behind a proxy, the monolith being ready says nothing about the service that now answers
    the catalog reads; a deploy that waits for readiness must wait for both.
    """
    state = request.app[STATE]
    request_id = request_id_for(request)
    status, body = await upstream_readiness(state.upstreams[MONOLITH], request_id)
    checks = dict(body.get("checks", {})) if status else {}
    checks[MONOLITH] = "ok" if status == 200 else "error"
    in_use = {route.service for route in state.routes.current().routes if route.mode != MONOLITH}
    for name in sorted(in_use):
        service_status, _ = await upstream_readiness(state.upstreams[name], request_id)
        checks[f"{name}_http"] = "ok" if service_status == 200 else "error"
    ready = all(check == "ok" for check in checks.values())
    return web.json_response(
        {"status": "ok" if ready else "error", "checks": checks},
        status=200 if ready else 503,
        headers={
            "X-Request-ID": request_id,
            **({} if ready else {"Retry-After": RETRY_AFTER_SECONDS}),
        },
    )


async def upstream_readiness(upstream: Upstream, request_id: str) -> tuple[int, dict]:
    """(status, JSON body) of the upstream's /api/health/ready/; (0, {}) if it does not answer."""
    try:
        async with upstream.session.get(
            upstream.url_for("/api/health/ready/"),
            headers={"X-Request-ID": request_id},
            timeout=aiohttp.ClientTimeout(total=READINESS_TIMEOUT),
        ) as response:
            body = await response.json(content_type=None)
            return response.status, body if isinstance(body, dict) else {}
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return 0, {}


def routes_json(state: ProxyState) -> dict:
    """The table in force, and why the file's current content is not, if it is not."""
    route_file = state.routes
    return {
        "file": str(route_file.path),
        "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(route_file.loaded_at)),
        "error": route_file.error,
        "routes": [route.as_json() for route in route_file.current().routes],
        "unmatched": MONOLITH,
        "upstreams": {name: upstream.base_url for name, upstream in state.upstreams.items()},
    }


def stats_json(state: ProxyState) -> dict:
    """Requests, statuses and latency per route and side; the shadow comparisons."""
    return {**state.stats.as_json(), "shadows_in_flight": len(state.shadow_tasks)}


async def show_routes(request: web.Request) -> web.Response:
    return web.json_response(routes_json(request.app[STATE]))


async def show_stats(request: web.Request) -> web.Response:
    return web.json_response(stats_json(request.app[STATE]))


async def show_page(request: web.Request) -> web.Response:
    """Both, as a page that redraws itself (proxy/page.py)."""
    state = request.app[STATE]
    return web.Response(
        text=page.render(routes_json(state), stats_json(state)),
        content_type="text/html",
        headers=page.HEADERS,
    )
