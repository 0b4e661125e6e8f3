"""The route table: matching, validation with line numbers, reloading, canary buckets."""

import os
from collections import Counter

import pytest
from proxy.routes import (
    FALLBACK,
    RouteFile,
    RouteTableError,
    canary_bucket,
    parse_table,
    should_shadow,
    side_for,
)
from proxy.settings import STAGE_DIR

UPSTREAMS = {"monolith", "catalog"}
TABLE = """
[[route]]
name = "catalog reads"
methods = ["GET", "HEAD"]
prefix = "/api/products/"
mode = "service"

[[route]]
name = "one product"
methods = ["GET"]
prefix = "/api/products/7/"
mode = "monolith"

[[route]]
name = "everything under /api/"
prefix = "/api/"
mode = "monolith"
"""


def test_the_longest_matching_prefix_wins():
    table = parse_table(TABLE, UPSTREAMS)

    assert table.match("GET", "/api/products/").name == "catalog reads"
    assert table.match("GET", "/api/products/3/").name == "catalog reads"
    assert table.match("GET", "/api/products/7/").name == "one product"
    assert table.match("GET", "/api/carts/").name == "everything under /api/"


def test_a_route_matches_only_its_methods():
    table = parse_table(TABLE, UPSTREAMS)

    assert table.match("HEAD", "/api/products/7/").name == "catalog reads"
    # POST is not a catalog read: the next longest prefix that takes POST answers.
    assert table.match("POST", "/api/products/").name == "everything under /api/"


def test_a_path_no_route_matches_goes_to_the_monolith():
    table = parse_table(TABLE, UPSTREAMS)

    route = table.match("GET", "/static/app.css")

    assert route is FALLBACK
    assert side_for(route, "any client") == "monolith"


def test_a_route_for_the_root_takes_every_path_it_has_the_methods_for():
    table = parse_table('[[route]]\nprefix = "/"\nmode = "service"\nmethods = ["GET"]\n', UPSTREAMS)

    assert table.match("GET", "/api/carts/").mode == "service"
    assert table.match("POST", "/api/carts/") is FALLBACK


def test_an_empty_table_sends_everything_to_the_monolith():
    assert parse_table("", UPSTREAMS).match("DELETE", "/api/carts/1/") is FALLBACK


def test_the_shipped_table_is_the_end_state_catalog_reads_on_the_service():
    table = parse_table((STAGE_DIR / "routes.toml").read_text(), UPSTREAMS)

    reads = table.match("GET", "/api/products/7/")
    assert (reads.name, reads.mode, reads.service) == ("catalog reads", "service", "catalog")
    assert table.match("HEAD", "/api/products/").mode == "service"
    # Staff writes stay with the monolith, which forwards them over gRPC.
    assert table.match("POST", "/api/products/") is FALLBACK
    assert table.match("PATCH", "/api/products/7/") is FALLBACK


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ('prefix = "/api/"\nmode = "canery"', "line 4: route 2: mode 'canery' is not one of"),
        ('prefix = "api/"', "line 4: route 2: `prefix` must be a path starting with /"),
        ('prefix = "/api/"\nmode = "canary"\npercent = 150', "a canary needs `percent`"),
        ('prefix = "/api/"\nmode = "service"\nservice = "orders"', "service 'orders' is not"),
        ('prefix = "/api/"\nmethods = ["FETCH"]', "unknown method(s) ['FETCH']"),
        ('prefix = "/api/"\nmode = "shadow"\nmethods = ["GET", "POST"]', "copies reads only"),
        ('prefix = "/api/"\nweight = 3', "unknown key(s) ['weight']"),
        ('prefix = "/api/products/"', "repeats prefix /api/products/ for ['GET']"),
    ],
)
def test_a_broken_route_is_refused_with_its_line(route, message):
    text = f'[[route]]\nprefix = "/api/products/"\nmethods = ["GET"]\n[[route]]\n{route}\n'

    with pytest.raises(RouteTableError) as refused:
        parse_table(text, UPSTREAMS)

    assert message in str(refused.value)


def test_a_toml_syntax_error_names_the_line():
    with pytest.raises(RouteTableError) as refused:
        parse_table('[[route]]\nprefix = "/api/"\nmode = monolith\n', UPSTREAMS)

    assert "line 3" in str(refused.value)


def test_only_reads_are_shadowed():
    table = parse_table('[[route]]\nprefix = "/api/products/"\nmode = "shadow"\n', UPSTREAMS)
    route = table.match("POST", "/api/products/")

    assert route.mode == "shadow"
    assert should_shadow(route, "GET")
    assert not should_shadow(route, "POST")
    assert side_for(route, "client") == "monolith"  # the monolith answers, in every case


# ---- Canary ---------------------------------------------------------------------------------


def test_a_client_always_lands_on_the_same_side():
    table = parse_table('[[route]]\nprefix = "/api/"\nmode = "canary"\npercent = 50\n', UPSTREAMS)
    route = table.match("GET", "/api/products/")

    for client in ("alice", "bob", "10.0.0.7"):
        sides = {side_for(route, client) for _ in range(50)}
        assert len(sides) == 1


def test_a_canary_sends_roughly_its_share_of_clients():
    table = parse_table('[[route]]\nprefix = "/api/"\nmode = "canary"\npercent = 10\n', UPSTREAMS)
    route = table.match("GET", "/api/products/")

    sides = Counter(side_for(route, f"client-{number}") for number in range(10_000))

    assert 900 <= sides["catalog"] <= 1100, sides


def test_raising_a_canary_keeps_the_clients_already_on_the_service():
    clients = [f"client-{number}" for number in range(2000)]
    on_service_at_10 = {client for client in clients if canary_bucket(client) < 10}
    on_service_at_20 = {client for client in clients if canary_bucket(client) < 20}

    assert on_service_at_10 < on_service_at_20


# ---- The file, reloaded -----------------------------------------------------------------------


def write(path, text: str) -> None:
    """Write and move the modification time on, as an editor saving a second later would."""
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_an_edited_file_is_reloaded_without_a_restart(tmp_path):
    path = tmp_path / "routes.toml"
    write(path, '[[route]]\nprefix = "/api/products/"\nmode = "monolith"\n')
    route_file = RouteFile(path, UPSTREAMS)
    route_file.load()

    write(path, '[[route]]\nprefix = "/api/products/"\nmode = "service"\n')
    route_file._checked_at -= 1  # a second has passed

    assert route_file.current().match("GET", "/api/products/").mode == "service"
    assert route_file.error is None


def test_the_file_is_looked_at_at_most_once_a_second(tmp_path):
    path = tmp_path / "routes.toml"
    write(path, '[[route]]\nprefix = "/api/products/"\nmode = "monolith"\n')
    route_file = RouteFile(path, UPSTREAMS)
    route_file.load()
    route_file.current()

    write(path, '[[route]]\nprefix = "/api/products/"\nmode = "service"\n')

    assert route_file.current().match("GET", "/api/products/").mode == "monolith"


def test_a_broken_edit_keeps_the_last_good_table_and_says_why(tmp_path, caplog):
    path = tmp_path / "routes.toml"
    write(path, '[[route]]\nprefix = "/api/products/"\nmode = "shadow"\n')
    route_file = RouteFile(path, UPSTREAMS)
    route_file.load()

    write(path, '# a comment\n[[route]]\nprefix = "/api/products/"\nmode = "servcie"\n')
    route_file._checked_at -= 1

    assert route_file.current().match("GET", "/api/products/").mode == "shadow"
    assert "line 2: route 1: mode 'servcie' is not one of" in route_file.error
    assert "event=routes_rejected" in caplog.text

    write(path, '[[route]]\nprefix = "/api/products/"\nmode = "service"\n')
    route_file._checked_at -= 1

    assert route_file.current().match("GET", "/api/products/").mode == "service"
    assert route_file.error is None


def test_a_broken_file_at_start_up_is_refused(tmp_path):
    path = tmp_path / "routes.toml"
    path.write_text("[[route]]\nmode = 'monolith'\n")

    with pytest.raises(RouteTableError, match="line 1: route 1: `prefix` must be a path"):
        RouteFile(path, UPSTREAMS).load()
