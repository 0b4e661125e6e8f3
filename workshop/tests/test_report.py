"""The compare report, built from recorded Locust runs (workshop/tests/data/locust/).

`clean/` is 10 s of the shop journey against stage 01; `failures/` is the same journey
against a port where nothing listens, so every request failed.
"""

import json
from pathlib import Path

import pytest
from shopctl.report import StageRun, chart, group_of, markdown, stage_table

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode

RECORDED = Path(__file__).parent / "data" / "locust"


@pytest.fixture
def clean() -> StageRun:
    return StageRun.read("01-monolith", RECORDED / "clean" / "locust", exit_code=0)


@pytest.fixture
def failed() -> StageRun:
    return StageRun.read("02-modular-monolith", RECORDED / "failures" / "locust", exit_code=1)


@pytest.mark.parametrize(
    ("request_name", "group"),
    [
        ("browse GET /api/products/", "browse"),
        ("cart POST /api/carts/{id}/items/", "cart"),
        ("order lookup GET /api/orders/{id}/", "order lookup"),
        ("Aggregated", "Aggregated"),
    ],
)
def test_a_request_name_belongs_to_the_group_before_its_method(request_name, group):
    assert group_of(request_name) == group


def test_the_stage_figures_are_locusts_own_aggregated_row(clean):
    total = clean.total()

    assert (total.requests, total.failures) == (68, 0)
    assert (total.p50, total.p95, total.p99) == (8, 93, 390)


def test_a_group_of_one_request_name_has_that_names_percentiles(clean):
    detail_row = next(row for row in clean.rows if row.name.startswith("detail "))

    detail = clean.group("detail")

    assert (detail.requests, detail.p50, detail.p95, detail.p99) == (
        detail_row.requests,
        detail_row.p50,
        detail_row.p95,
        detail_row.p99,
    )


def test_the_cart_group_merges_creating_a_cart_and_adding_an_item(clean):
    cart_rows = [row for row in clean.rows if row.name.startswith("cart ")]

    cart = clean.group("cart")

    assert len(cart_rows) == 2
    assert cart.requests == sum(row.requests for row in cart_rows)


def test_group_percentiles_come_from_the_merged_histograms_not_from_averaging(tmp_path):
    # 90 fast requests of one name and 10 slow ones of another: the group's p95 is slow,
    # which no average of the two names' own p95 (10 and 100) would say.
    prefix = tmp_path / "locust"
    (tmp_path / "locust_stats.csv").write_text(
        (RECORDED / "clean" / "locust_stats.csv").read_text()
    )
    (tmp_path / "locust_response_times.json").write_text(
        json.dumps(
            [
                _histogram("cart POST /api/carts/", {10: 90}),
                _histogram("cart POST /api/carts/{id}/items/", {100: 10}),
            ]
        )
    )

    cart = StageRun.read("01-monolith", prefix).group("cart")

    assert (cart.requests, cart.p50, cart.p95, cart.p99) == (100, 10, 100, 100)


def test_every_failure_is_listed_with_its_count_and_error(clean, failed):
    report = markdown([clean, failed], title="t", settings={"users": "3"})

    assert "| 02-modular-monolith | 11 | 11 |" in report
    assert "6 × browse GET /api/products/" in report
    assert "no answer: ConnectionError" in report
    assert "Locust exited with code 1" in report
    assert "- **01-monolith**: none" in report


def test_a_stage_that_produced_no_figures_is_said_so(tmp_path, clean):
    never_ran = StageRun.read("03-strangler", tmp_path / "locust")

    assert not never_ran.measured
    assert "| 03-strangler | - | - |" in stage_table([clean, never_ran])
    assert "**03-strangler**: no figures" in markdown([never_ran], title="t", settings={})


def test_the_chart_is_a_png_even_when_a_stage_has_no_figures(tmp_path, clean, failed):
    path = tmp_path / "chart.png"

    chart([clean, failed, StageRun.read("03-strangler", tmp_path / "x")], path, title="t")

    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def _histogram(name: str, response_times: dict[int, int]) -> dict:
    count = sum(response_times.values())
    return {
        "method": name.split()[1],
        "name": name,
        "num_requests": count,
        "num_failures": 0,
        "start_time": 0.0,
        "last_request_timestamp": 10.0,
        "response_times": {str(ms): n for ms, n in response_times.items()},
    }
