"""Check of exercise 03-route-inventory: the route table sends GET /api/inventory/ reads
through a route of their own, "stock reads", still answered by the monolith. HEAD may take the
route too (it is a read); a write may not."""

import pytest
from proxy.routes import RouteTable, parse_table
from proxy.settings import STAGE_DIR

UPSTREAMS = {"monolith", "catalog"}


def committed_table() -> RouteTable:
    """03-strangler/routes.toml, read by the proxy's own parser (a broken file fails here)."""
    return parse_table((STAGE_DIR / "routes.toml").read_text(), UPSTREAMS)


def test_the_route_table_still_parses():
    assert committed_table().routes, "routes.toml has no [[route]] at all"


def test_stock_reads_have_a_route_of_their_own():
    route = committed_table().match("GET", "/api/inventory/1/")
    assert route.name == "stock reads", (
        f"GET /api/inventory/1/ matches route {route.name!r}; "
        'expected a route named "stock reads" with prefix "/api/inventory/"'
    )
    assert route.prefix == "/api/inventory/"


def test_the_monolith_still_answers_them():
    route = committed_table().match("GET", "/api/inventory/1/")
    assert route.mode == "monolith", (
        f'the "stock reads" route is in mode {route.mode!r}: inventory is not extracted, '
        'only the monolith can answer it (mode = "monolith")'
    )


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_are_not_counted_as_stock_reads(method):
    route = committed_table().match(method, "/api/inventory/1/")
    assert route.name != "stock reads", (
        f'{method} /api/inventory/1/ matches "stock reads": a route without `methods` matches '
        "every method, so /_proxy/stats would count writes as reads. Name the methods it is "
        'for: methods = ["GET"] (HEAD, a read too, may join it)'
    )


def test_catalog_reads_and_writes_are_unchanged():
    table = committed_table()
    assert table.match("GET", "/api/products/1/").name == "catalog reads"
    assert table.match("POST", "/api/products/").name == "(unmatched)"
