"""Fake upstreams and a proxy wired to them, on free ports, for the proxy's tests.

The tests are coroutines that anyio's pytest plugin runs (marked `anyio`; conftest.py picks
asyncio, the proxy's event loop): no database.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from proxy.app import STATE, ProxyState, make_app
from proxy.settings import Settings

from ..processes import free_port

SEEN = web.AppKey("seen", list)


def fake_upstream(name: str, *, price: str = "12.50") -> web.Application:
    """An upstream that says who it is, echoes what it got, and can be slow or stream."""

    async def products(request: web.Request) -> web.Response:
        body = {"count": 1, "results": [{"id": 1, "price": price}], "answered_by": name}
        return web.json_response(body)

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "checks": {"database": "ok"}})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"answered_by": name})

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for number in range(3):
            await response.write(f"chunk {number}\n".encode())
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    async def cut(request: web.Request) -> web.StreamResponse:
        # ?length=N: the length announced; only ten bytes ever come.
        length = request.query.get("length", "100")
        response = web.StreamResponse(headers={"Content-Length": length})
        await response.prepare(request)
        await response.write(b"only ten b")
        request.transport.close()  # dies mid-body
        return response

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        answer = {
            "answered_by": name,
            "method": request.method,
            "path": request.path_qs,
            "headers": dict(request.headers),
            "body_length": len(body),
            "body_start": body[:100].decode(errors="replace"),
        }
        headers = {"X-Upstream-Header": name, "Keep-Alive": "timeout=99"}
        return web.json_response(answer, headers=headers)

    # More than the proxy lets through: the body-limit test must see the proxy refuse, not this.
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[SEEN] = []

    @web.middleware
    async def remember(request: web.Request, handler):  # every request, whatever the route
        request.app[SEEN].append((request.method, request.path_qs))
        return await handler(request)

    app.middlewares.append(remember)
    app.router.add_get("/api/products/", products)
    app.router.add_get("/api/health/ready/", ready)
    app.router.add_get("/slow", slow)
    app.router.add_get("/stream", stream)
    app.router.add_get("/cut", cut)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


def unused_url() -> str:
    """A URL nothing listens on: an upstream that is down."""
    return f"http://127.0.0.1:{free_port()}"


@asynccontextmanager
async def running_proxy(
    routes: str,
    folder: Path,
    *,
    monolith: web.Application | None = None,
    catalog: web.Application | None = None,
    timeout: float = 5,
    body_timeout: float = 5,
) -> AsyncIterator[TestClient]:
    """A proxy in front of the given fake upstreams (None: that upstream is down)."""
    servers = []
    urls = {}
    for name, app in (("monolith", monolith), ("catalog", catalog)):
        if app is None:
            urls[name] = unused_url()
            continue
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        urls[name] = str(server.make_url("")).rstrip("/")
    routes_file = folder / "routes.toml"
    routes_file.write_text(routes)
    settings = Settings(
        host="127.0.0.1",
        port=0,
        upstreams=urls,
        routes_file=routes_file,
        timeout=timeout,
        body_timeout=body_timeout,
    )
    try:
        async with TestClient(TestServer(make_app(settings))) as client:
            yield client
    finally:
        for server in servers:
            await server.close()


def state_of(client: TestClient) -> ProxyState:
    return client.server.app[STATE]


async def shadows_done(client: TestClient) -> None:
    """Wait for the background shadow copies in flight."""
    tasks = set(state_of(client).shadow_tasks)
    if tasks:
        await asyncio.wait(tasks, timeout=5)
