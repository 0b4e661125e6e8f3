"""The bench report: ratios to the floor, rows still to come, queries side by side."""

from shopctl.commands.bench import Measurement, Row, _markdown, _sequential, _stage_03_costs
from shopctl.stages import Stage

FLOOR = Measurement(p50=0.5, p95=0.8, requests_per_second=4000)


def test_a_cost_is_shown_as_a_ratio_to_the_floor_of_the_same_run():
    row = Row("product list", "bare WSGI", FLOOR, Measurement(2.0, 3.0, 500, p99=6.5))

    report = _markdown([row], {}, {})

    assert (
        "| product list | bare WSGI | 0.50 | 2.00 | 4.0 | - | 6.50 | 4000 | 500 | 0.12 |" in report
    )


def test_sequential_calls_give_percentiles_and_the_rate_of_one_caller():
    measured = _sequential([1.0] * 98 + [3.0, 9.0])

    assert measured.p50 == 1.0
    assert 3.0 <= measured.p99 <= 9.0
    assert round(measured.requests_per_second) == round(1000 / 1.1)


def test_measurements_whose_code_is_not_built_yet_are_said_not_hidden(tmp_path):
    stages = [Stage("01-monolith", "01", tmp_path), Stage("02-modular-monolith", "02", tmp_path)]

    report = _markdown(_stage_03_costs(stages, 1, 1), {}, {})

    assert "strangler proxy" in report and "one gRPC hop" in report
    assert report.count("not measured yet: comes with stage 03") == 2


def test_query_counts_line_up_per_request_and_say_why_a_stage_is_missing():
    queries = {
        "01-monolith": {"GET /api/products/": 2, "GET /api/products/{id}/": 1},
        "02-modular-monolith": {"GET /api/products/": 2, "GET /api/products/{id}/": 2},
        "03-strangler": "not counted: its release command failed",
    }

    report = _markdown([], queries, {})

    assert "| request | 01-monolith | 02-modular-monolith | 03-strangler |" in report
    assert "| GET /api/products/{id}/ | 1 | 2 | - |" in report
    assert "03-strangler: not counted: its release command failed" in report
