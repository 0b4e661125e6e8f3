"""GET /_proxy/: the route table, the traffic split and the parallel run's differences as an
HTML page; everything that came from traffic shown as text, never as markup."""

import base64
import hashlib
import re

import pytest
from yarl import URL

from .fakes import fake_upstream, running_proxy, shadows_done, state_of
from .test_proxy import route_table

pytestmark = pytest.mark.anyio

HOSTILE_QUERY = "q=<script>alert(1)</script>"
HOSTILE_PRICE = "<img src=x onerror=alert(2)>"


def proxy_in(mode: str, tmp_path, *, price: str = "12.50"):
    """A proxy whose one route is in `mode`, both fake upstreams up."""
    return running_proxy(
        route_table(mode),
        tmp_path,
        monolith=fake_upstream("monolith"),
        catalog=fake_upstream("catalog", price=price),
    )


async def test_the_page_shows_the_routes_and_each_sides_share(tmp_path):
    async with proxy_in("service", tmp_path) as client:
        for path in ["/api/products/"] * 3 + ["/api/carts/"]:
            await client.get(path)
        response = await client.get("/_proxy/")
        page = await response.text()

    assert response.status == 200
    assert response.content_type == "text/html"
    assert response.charset == "utf-8"
    assert "Content-Security-Policy" in response.headers
    assert "<td>catalog reads</td>" in page
    assert '<td class="path">/api/products/</td>' in page
    assert "<td>(unmatched)</td>" in page
    # catalog reads: three, all answered by the catalog service; the cart: the monolith.
    assert re.search(r"<td>catalog reads</td><td>catalog</td><td[^>]*>3</td>.*100 %", page)
    assert re.search(r"<td>\(unmatched\)</td><td>monolith</td><td[^>]*>1</td>", page)


async def test_a_hostile_path_and_answer_in_a_difference_are_shown_as_text(tmp_path):
    async with proxy_in("shadow", tmp_path, price=HOSTILE_PRICE) as client:
        # encoded=True: the path goes out as written, markup and all, as an attacker sends it.
        await client.get(URL(f"/api/products/?{HOSTILE_QUERY}", encoded=True))
        await shadows_done(client)
        stats = await (await client.get("/_proxy/stats")).json()
        page = await (await client.get("/_proxy/")).text()

    [difference] = stats["shadow"]["catalog reads"]["last_differences"]
    assert difference["path"] == f"/api/products/?{HOSTILE_QUERY}"  # it did reach the page raw
    assert "/api/products/?q=&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert page.count("<script") == 1  # the page's own, no other
    assert "<img" not in page


async def test_the_pages_script_is_the_one_its_content_security_policy_allows(tmp_path):
    async with proxy_in("monolith", tmp_path) as client:
        response = await client.get("/_proxy/")
        page = await response.text()

    [script] = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = response.headers["Content-Security-Policy"]
    assert f"script-src 'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy
    assert 'fetch(location.pathname, {cache: "no-store"})' in script  # it redraws itself


async def test_a_refused_edit_of_the_table_is_on_the_page(tmp_path):
    async with proxy_in("monolith", tmp_path) as client:
        (tmp_path / "routes.toml").write_text('[[route]]\nprefix = "/api/"\nmode = "<b>"\n')
        state_of(client).routes.reload_if_changed()
        page = await (await client.get("/_proxy/")).text()

    assert "mode &#x27;&lt;b&gt;&#x27; is not one of" in page
    assert "<b>" not in page
    assert "<td>catalog reads</td>" in page  # the last good table, still in force


async def test_the_json_answers_are_as_they_were(tmp_path):
    async with proxy_in("service", tmp_path) as client:
        await client.get("/api/products/")
        routes = await client.get("/_proxy/routes")
        stats = await client.get("/_proxy/stats")
        routes_json, stats_json = await routes.json(), await stats.json()

    assert routes.content_type == stats.content_type == "application/json"
    assert set(routes_json) == {"file", "loaded_at", "error", "routes", "unmatched", "upstreams"}
    assert set(stats_json) == {"routes", "shadow", "shadows_in_flight"}
    assert stats_json["routes"]["catalog reads"]["catalog"]["requests"] == 1
