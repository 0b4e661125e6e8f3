"""The proxy end to end: real sockets, fake upstreams (tests/proxy/fakes.py), no database."""

import asyncio
import time
from collections import Counter

import aiohttp
import pytest
from aiohttp import web
from proxy.app import MAX_BODY_BYTES, MAX_BUFFERED_BODY_BYTES
from yarl import URL

from .fakes import SEEN, fake_upstream, running_proxy, shadows_done, state_of

pytestmark = pytest.mark.anyio  # each test runs in an event loop (anyio's pytest plugin)

EVERYTHING_TO_THE_MONOLITH = """
[[route]]
name = "catalog reads"
methods = ["GET", "HEAD"]
prefix = "/api/products/"
mode = "monolith"
"""


def route_table(mode: str, extra: str = "") -> str:
    return EVERYTHING_TO_THE_MONOLITH.replace('"monolith"', f'"{mode}"') + extra


# ---- Forwarding -------------------------------------------------------------------------------


async def test_a_request_reaches_the_monolith_and_says_so(tmp_path):
    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith")
    ) as client:
        response = await client.get("/api/products/?page=2&q=tea%20pot")
        answer = await response.json()

    assert response.status == 200
    assert response.headers["X-Served-By"] == "monolith"
    assert answer["answered_by"] == "monolith"


async def test_the_path_query_headers_and_body_pass_through_both_ways(tmp_path):
    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith")
    ) as client:
        response = await client.post(
            URL("/api/carts/1/items/?x=a%2Fb", encoded=True),  # sent as written
            json={"product_id": 1, "quantity": 2},
            headers={
                "Authorization": "Token abc",
                "Connection": "keep-alive, X-Secret",
                "X-Secret": "for the next hop only",
            },
        )
        answer = await response.json()

    assert answer["method"] == "POST"
    assert answer["path"] == "/api/carts/1/items/?x=a%2Fb"
    assert answer["headers"]["Authorization"] == "Token abc"
    assert answer["headers"]["Content-Type"] == "application/json"
    assert answer["body_start"] == '{"product_id": 1, "quantity": 2}'
    assert "X-Secret" not in answer["headers"]  # named by Connection: hop-by-hop
    assert answer["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert response.headers["X-Upstream-Header"] == "monolith"
    assert "timeout=99" not in response.headers.get("Keep-Alive", "")


async def test_a_body_up_to_the_limit_reaches_the_upstream_intact(tmp_path):
    body = b"x" * MAX_BODY_BYTES

    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith")
    ) as client:
        response = await client.put("/upload", data=body)
        answer = await response.json()

    assert answer["body_length"] == len(body)
    assert answer["headers"]["Content-Length"] == str(len(body))


async def test_a_body_over_the_limit_is_refused_with_413_and_never_forwarded(tmp_path):
    monolith = fake_upstream("monolith")

    async with running_proxy(EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=monolith) as client:
        response = await client.put("/upload", data=b"x" * (MAX_BODY_BYTES + 1))
        status = response.status

    assert status == 413
    assert monolith[SEEN] == []


async def trickle_a_body(host: str, port: int, seconds: float) -> bytes:
    """POST a body announced as 1,000 bytes, one byte every 0.2 s: the proxy's answer."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /api/carts/ HTTP/1.1\r\nHost: shop\r\nContent-Length: 1000\r\n\r\n")
    answer = asyncio.ensure_future(reader.readline())
    deadline = time.monotonic() + seconds
    while not answer.done() and time.monotonic() < deadline:
        writer.write(b" ")
        await asyncio.sleep(0.2)
    writer.close()
    return await answer if answer.done() else b"(no answer)"


async def test_a_body_that_trickles_in_gets_408_and_never_reaches_the_monolith(tmp_path):
    monolith = fake_upstream("monolith")

    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=monolith, body_timeout=1
    ) as client:
        started = time.monotonic()
        status_line = await trickle_a_body(client.host, client.port, seconds=5)
        seconds = time.monotonic() - started

    assert status_line.split()[1] == b"408", status_line
    assert seconds < 3
    assert monolith[SEEN] == []  # not a byte of it went upstream


async def test_bodies_still_trickling_have_not_reached_the_monolith_and_others_are_served(tmp_path):
    monolith = fake_upstream("monolith")

    async with running_proxy(EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=monolith) as client:
        slow = [
            asyncio.ensure_future(trickle_a_body(client.host, client.port, seconds=3))
            for _ in range(20)
        ]
        await asyncio.sleep(1)
        response = await client.get("/api/products/")
        seen_meanwhile = list(monolith[SEEN])
        for task in slow:
            task.cancel()
        status = response.status

    assert status == 200
    # Streamed through, each would have reached the monolith with its headers, and held one
    # of its workers: buffered, none has.
    assert seen_meanwhile == [("GET", "/api/products/")]


async def test_expect_100_continue_is_answered_by_the_proxy_not_passed_on(tmp_path):
    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith")
    ) as client:
        response = await client.post("/upload", data=b"x" * 5000, expect100=True)
        answer = await response.json()

    assert answer["body_length"] == 5000
    assert "Expect" not in answer["headers"]


async def test_a_streamed_response_arrives_chunk_by_chunk(tmp_path):
    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith")
    ) as client:
        response = await client.get("/stream")
        chunks = [chunk async for chunk in response.content.iter_any()]

    assert b"".join(chunks) == b"chunk 0\nchunk 1\nchunk 2\n"
    assert response.headers["Transfer-Encoding"] == "chunked"


async def test_an_upstream_dying_mid_way_through_a_large_body_cuts_the_clients_connection_too(
    tmp_path,
):
    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith")
    ) as client:
        response = await client.get("/cut", params={"length": MAX_BUFFERED_BODY_BYTES + 1})
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()  # a short body is reported, never passed off as whole

    assert response.status == 200  # streamed: the headers had gone out already


async def test_an_upstream_dying_mid_way_through_a_small_body_is_a_503_envelope(tmp_path):
    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith")
    ) as client:
        response = await client.get("/cut", params={"length": 100})
        body = await response.json()

    # A small body is read whole before anything goes to the client: nothing was sent yet.
    assert_service_unavailable(response, body)


async def test_a_small_answer_goes_out_in_one_piece_with_its_length(tmp_path):
    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith")
    ) as client:
        response = await client.get("/api/products/")
        body = await response.read()

    assert response.headers["Content-Length"] == str(len(body))
    assert "Transfer-Encoding" not in response.headers


async def test_a_head_request_gets_headers_and_no_body(tmp_path):
    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith")
    ) as client:
        response = await client.head("/api/products/")
        body = await response.read()

    assert response.status == 200
    assert body == b""


async def test_the_clients_request_id_is_kept_and_one_is_made_when_missing(tmp_path):
    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith")
    ) as client:
        kept = await client.get("/echo", headers={"X-Request-ID": "req-42"})
        made = await client.get("/echo")
        kept_answer = await kept.json()
        made_answer = await made.json()

    assert kept.headers["X-Request-ID"] == "req-42"
    assert kept_answer["headers"]["X-Request-ID"] == "req-42"
    assert len(made.headers["X-Request-ID"]) == 32
    assert made_answer["headers"]["X-Request-ID"] == made.headers["X-Request-ID"]


# ---- Modes ----------------------------------------------------------------------------------


async def test_a_service_route_is_answered_by_the_service_and_the_rest_by_the_monolith(tmp_path):
    async with running_proxy(
        route_table("service"),
        tmp_path,
        monolith=fake_upstream("monolith"),
        catalog=fake_upstream("catalog"),
    ) as client:
        read = await client.get("/api/products/")
        write = await client.post("/api/products/", json={})
        other = await client.get("/api/carts/")
        served_by = [response.headers["X-Served-By"] for response in (read, write, other)]

    assert served_by == ["catalog", "monolith", "monolith"]


async def test_an_edited_route_table_applies_without_a_restart(tmp_path):
    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH,
        tmp_path,
        monolith=fake_upstream("monolith"),
        catalog=fake_upstream("catalog"),
    ) as client:
        before = await client.get("/api/products/")
        (tmp_path / "routes.toml").write_text(route_table("service") + "\n# edited\n")
        state_of(client).routes._checked_at -= 1  # as if a second had passed
        after = await client.get("/api/products/")
        shown = await (await client.get("/_proxy/routes")).json()

    assert (before.headers["X-Served-By"], after.headers["X-Served-By"]) == ("monolith", "catalog")
    assert shown["routes"][0]["mode"] == "service"
    assert shown["error"] is None


async def test_a_canary_keeps_each_client_on_one_side_and_splits_the_clients(tmp_path):
    async with running_proxy(
        route_table("canary", "percent = 30\n"),
        tmp_path,
        monolith=fake_upstream("monolith"),
        catalog=fake_upstream("catalog"),
    ) as client:
        sides: dict[str, set[str]] = {}
        for number in range(200):
            client_id = f"client-{number}"
            for _ in range(2):
                response = await client.get("/api/products/", headers={"X-Client-ID": client_id})
                sides.setdefault(client_id, set()).add(response.headers["X-Served-By"])

    assert all(len(seen) == 1 for seen in sides.values())  # nobody flipped
    share = Counter(next(iter(seen)) for seen in sides.values())
    assert 35 <= share["catalog"] <= 85, share  # 30 % of 200 is 60


async def test_a_shadow_route_answers_from_the_monolith_and_counts_matches(tmp_path):
    async with running_proxy(
        route_table("shadow", 'ignore = ["answered_by"]\n'),
        tmp_path,
        monolith=fake_upstream("monolith"),
        catalog=fake_upstream("catalog"),
    ) as client:
        response = await client.get("/api/products/")
        await shadows_done(client)
        stats = await (await client.get("/_proxy/stats")).json()

    assert response.headers["X-Served-By"] == "monolith"
    shadow = stats["shadow"]["catalog reads"]
    assert (shadow["matches"], shadow["differences"]) == (1, 0)


async def test_a_shadow_route_counts_and_shows_a_different_answer(tmp_path):
    async with running_proxy(
        route_table("shadow"),  # nothing ignored: answered_by differs too
        tmp_path,
        monolith=fake_upstream("monolith"),
        catalog=fake_upstream("catalog", price="12.60"),
    ) as client:
        answer = await (await client.get("/api/products/")).json()
        await shadows_done(client)
        stats = await (await client.get("/_proxy/stats")).json()

    assert answer["results"][0]["price"] == "12.50"  # the client got the monolith's answer
    shadow = stats["shadow"]["catalog reads"]
    assert (shadow["matches"], shadow["differences"]) == (0, 1)
    [difference] = shadow["last_differences"]
    assert difference["path"] == "/api/products/"
    assert difference["differences"] == [
        'body.answered_by: monolith="monolith" service="catalog"',
        'body.results[0].price: monolith="12.50" service="12.60"',
    ]


async def test_a_shadow_route_never_copies_a_write(tmp_path):
    catalog = fake_upstream("catalog")
    shadow_everything = '[[route]]\nname = "all"\nprefix = "/api/"\nmode = "shadow"\n'

    async with running_proxy(
        shadow_everything, tmp_path, monolith=fake_upstream("monolith"), catalog=catalog
    ) as client:
        write = await client.post("/api/orders/", json={"cart_id": "x"})
        await client.get("/api/orders/1/")
        await shadows_done(client)

    assert write.headers["X-Served-By"] == "monolith"
    assert catalog[SEEN] == [("GET", "/api/orders/1/")]  # the read was copied, the POST not


async def test_a_shadow_copy_to_a_service_that_is_down_counts_an_error_and_the_client_is_fine(
    tmp_path,
):
    async with running_proxy(
        route_table("shadow"), tmp_path, monolith=fake_upstream("monolith"), catalog=None
    ) as client:
        response = await client.get("/api/products/")
        await shadows_done(client)
        stats = await (await client.get("/_proxy/stats")).json()

    assert response.status == 200
    assert stats["shadow"]["catalog reads"]["errors"] == 1


# ---- An upstream down or slow -----------------------------------------------------------------


def assert_service_unavailable(response: web.Response, body: dict) -> None:
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert response.headers["X-Served-By"] == "proxy"
    assert body["error"]["code"] == "service_unavailable"
    assert body["error"]["message"]


async def test_a_monolith_that_is_down_gives_a_quick_503_envelope(tmp_path):
    async with running_proxy(EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=None) as client:
        started = time.monotonic()
        response = await client.get("/api/products/", headers={"X-Request-ID": "down-1"})
        body = await response.json()
        seconds = time.monotonic() - started

    assert_service_unavailable(response, body)
    assert response.headers["X-Request-ID"] == "down-1"
    assert seconds < 2


async def test_a_service_that_is_down_gives_a_503_envelope(tmp_path):
    async with running_proxy(
        route_table("service"), tmp_path, monolith=fake_upstream("monolith"), catalog=None
    ) as client:
        response = await client.get("/api/products/")
        body = await response.json()

    assert_service_unavailable(response, body)


async def test_a_slow_upstream_gives_a_503_envelope_after_the_timeout(tmp_path):
    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith"), timeout=0.2
    ) as client:
        started = time.monotonic()
        response = await client.get("/slow")  # the fake takes 2 s
        body = await response.json()
        seconds = time.monotonic() - started

    assert_service_unavailable(response, body)
    assert seconds < 1


# ---- What the proxy shows -------------------------------------------------------------------


async def test_stats_count_requests_per_route_and_side(tmp_path):
    async with running_proxy(
        route_table("service"),
        tmp_path,
        monolith=fake_upstream("monolith"),
        catalog=fake_upstream("catalog"),
    ) as client:
        for _ in range(3):
            await client.get("/api/products/")
        await client.get("/api/carts/")
        stats = await (await client.get("/_proxy/stats")).json()

    catalog = stats["routes"]["catalog reads"]["catalog"]
    assert catalog["requests"] == 3
    assert catalog["statuses"] == {"2xx": 3}
    assert catalog["latency_ms"]["p50"] > 0
    assert stats["routes"]["(unmatched)"]["monolith"]["requests"] == 1
    assert "/_proxy/stats" not in str(stats["routes"])  # the proxy's own pages are not counted


async def test_routes_shows_the_table_in_force_and_the_upstreams(tmp_path):
    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith")
    ) as client:
        shown = await (await client.get("/_proxy/routes")).json()

    assert shown["routes"][0]["name"] == "catalog reads"
    assert shown["routes"][0]["methods"] == ["GET", "HEAD"]
    assert shown["unmatched"] == "monolith"
    assert set(shown["upstreams"]) == {"monolith", "catalog"}


# ---- Readiness --------------------------------------------------------------------------------


async def readiness_with(
    routes: str, tmp_path, *, catalog_up: bool
) -> tuple[int, dict, str | None]:
    catalog = fake_upstream("catalog") if catalog_up else None
    async with running_proxy(
        routes, tmp_path, monolith=fake_upstream("monolith"), catalog=catalog
    ) as client:
        response = await client.get("/api/health/ready/")
        return response.status, await response.json(), response.headers.get("Retry-After")


async def test_readiness_checks_the_services_the_routes_send_requests_to(tmp_path):
    status, body, _ = await readiness_with(route_table("service"), tmp_path, catalog_up=True)

    assert status == 200
    assert body == {
        "status": "ok",
        "checks": {"database": "ok", "monolith": "ok", "catalog_http": "ok"},
    }


async def test_a_service_no_route_uses_does_not_make_the_stage_unready(tmp_path):
    status, body, _ = await readiness_with(EVERYTHING_TO_THE_MONOLITH, tmp_path, catalog_up=False)

    assert status == 200
    assert body["checks"] == {"database": "ok", "monolith": "ok"}


async def test_a_service_that_is_down_makes_the_stage_unready(tmp_path):
    status, body, retry_after = await readiness_with(
        route_table("canary"), tmp_path, catalog_up=False
    )

    assert status == 503
    assert retry_after == "5"
    assert body["checks"]["catalog_http"] == "error"


# ---- The proxy's own errors -------------------------------------------------------------------


async def test_a_bug_in_the_proxy_is_a_500_envelope_not_a_text_page(tmp_path, monkeypatch):
    async def broken_relay(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("proxy.app.relay", broken_relay)

    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith")
    ) as client:
        response = await client.get("/api/products/")
        body = await response.json()

    assert response.status == 500
    assert response.content_type == "application/json"
    assert body == {
        "error": {"code": "internal_error", "message": "Something went wrong on our side."}
    }


async def test_an_error_aiohttp_raises_gets_the_envelope(tmp_path, monkeypatch):
    async def refusing_relay(*args, **kwargs):
        raise web.HTTPRequestEntityTooLarge(max_size=1024, actual_size=4096)

    monkeypatch.setattr("proxy.app.relay", refusing_relay)

    async with running_proxy(
        EVERYTHING_TO_THE_MONOLITH, tmp_path, monolith=fake_upstream("monolith")
    ) as client:
        response = await client.post("/api/carts/", data=b"x" * 4096)
        body = await response.json()

    assert response.status == 413
    assert response.content_type == "application/json"
    assert body["error"]["code"] == "body_too_large"
    assert "1024" in body["error"]["message"]


async def test_a_request_line_over_aiohttps_limit_is_refused_before_the_app(tmp_path):
    # Not in the envelope: aiohttp's HTTP parser answers it before any handler (API.md,
    # "Limits", names the limit: 8190 bytes).
    async with running_proxy(EVERYTHING_TO_THE_MONOLITH, tmp_path) as client:
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(b"GET /api/" + b"x" * 9000 + b" HTTP/1.1\r\nHost: shop\r\n\r\n")
        await writer.drain()
        status_line = await reader.readline()
        writer.close()

    assert status_line.split()[1] == b"400"
