"""`make capacity`: the capacity and knee chosen from the steps, the scorecard's derived
figures (deployable units, lines, hops and queries from recorded span files), the report,
and one short real run against stage 01."""

import json
import os
import subprocess
import sys

import pytest
from shopctl.capacity_report import (
    Scorecard,
    StageCapacity,
    Step,
    capacity_chart,
    capacity_markdown,
    capacity_table,
    scorecard_table,
)
from shopctl.scorecard import TracedRequest, _count_trace, code_lines, deployable_units
from shopctl.stages import REPO_ROOT, find_stage

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def step(users: int, rps: float, p95: float | None, failures: int = 0) -> Step:
    return Step(
        users=users,
        requests=int(rps * 10),
        failures=failures,
        requests_per_second=rps,
        p50_ms=p95 / 2 if p95 else None,
        p95_ms=p95,
        p99_ms=p95 * 2 if p95 else None,
        seconds=10,
        server_cpu_seconds=rps * 10 * 0.004,
        client_cpu_seconds=rps * 10 * 0.001,
        server_memory_mb=300 + users,
    )


def test_the_capacity_is_the_fastest_step_that_kept_the_slo_and_the_knee_the_first_that_did_not():
    result = StageCapacity(
        stage="01-monolith",
        slo_ms=100,
        steps=[step(1, 150, 12), step(4, 420, 40), step(8, 400, 95), step(16, 430, 180)],
    )
    assert result.best().users == 4  # 420 req/s; 8 users kept the SLO too, but served less
    assert result.knee().users == 16


def test_a_step_with_a_failed_request_does_not_keep_the_slo_however_fast():
    result = StageCapacity(
        stage="04-services", slo_ms=100, steps=[step(1, 90, 20), step(2, 200, 30, failures=1)]
    )
    assert result.best().users == 1
    assert result.knee().users == 2


def test_a_stage_whose_first_step_missed_the_slo_has_no_capacity_and_says_so():
    result = StageCapacity(stage="04-services", slo_ms=10, steps=[step(1, 90, 20)])
    assert result.best() is None
    row = capacity_table([result]).splitlines()[-1]
    assert "no step kept the SLO" in row


def test_cpu_per_thousand_requests_and_the_clients_share_come_from_the_step():
    measured = step(4, 400, 40)  # 4,000 requests, 16 s of stage CPU, 4 s of client CPU
    assert measured.cpu_per_thousand() == pytest.approx(4.0)
    assert measured.client_share() == pytest.approx(0.2)


def test_the_deployable_units_are_read_from_each_stages_procfile():
    units = {number: deployable_units(find_stage(number)) for number in ("01", "02", "03", "04")}
    # 01 and 02: one Django project (web + worker or relay + consumer); 03: the monolith, the
    # catalog service, the proxy; 04: gateway, catalog, inventory, orders, payments, notifications.
    assert units == {"01": 1, "02": 1, "03": 3, "04": 6}


def test_lines_are_split_into_code_and_tests_and_migrations_are_not_counted(tmp_path):
    (tmp_path / "shop" / "migrations").mkdir(parents=True)
    (tmp_path / "shop" / "migrations" / "0001_initial.py").write_text("x = 1\n" * 50)
    (tmp_path / "shop" / "services.py").write_text("a = 1\n\nb = 2\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "helpers.py").write_text("c = 3\n")
    (tmp_path / "shop" / "test_services.py").write_text("d = 4\ne = 5\n")
    assert code_lines(tmp_path) == (2, 3)


def otlp_line(service: str, spans: list[dict]) -> str:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                    },
                    "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
                }
            ]
        }
    )


def span(span_id: str, kind: int, *, trace_id: str = TRACE_ID, database: bool = False) -> dict:
    attributes = [{"key": "db.system", "value": {"stringValue": "sqlite"}}] if database else []
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": span_id,
        "kind": kind,
        "attributes": attributes,
    }


def test_hops_and_queries_are_counted_from_every_process_of_the_trace(tmp_path):
    traces = tmp_path / "traces"
    traces.mkdir()
    # The rotated file holds the gateway's spans, the live one the orders service's, with a
    # span of another trace and a line still being written.
    (traces / "spans.jsonl.1").write_text(
        otlp_line("shop-04.gateway", [span("a1", 2), span("a2", 3), span("a3", 3, database=True)])
        + "\n"
    )
    (traces / "spans.jsonl").write_text(
        otlp_line(
            "shop-04.orders",
            [
                span("b1", 2),
                span("b2", 3),
                span("b3", 4),
                span("b4", 3, database=True),
                span("c1", 3, trace_id=OTHER_TRACE_ID),
            ],
        )
        + "\n"
        + otlp_line("shop-04.payments", [span("d1", 2)])[:40]
    )
    counted = _count_trace("checkout", TRACE_ID, traces)
    assert counted == TracedRequest(
        request="checkout", trace_id=TRACE_ID, spans=7, services=2, hops=3, queries=2
    )


def test_a_request_without_a_trace_id_is_noted_not_counted_as_zero(tmp_path):
    counted = _count_trace("product read", "", tmp_path)
    assert counted.spans == 0 and "no X-Trace-Id" in counted.note
    result = StageCapacity(stage="01-monolith", slo_ms=100, steps=[step(1, 100, 10)])
    result.scorecard.traced.requests.append(counted)
    assert "| hops per product read | - |" in scorecard_table([result])
    assert "no X-Trace-Id" in capacity_markdown([result], title="t", settings={})


def test_the_report_has_every_table_and_the_chart_is_drawn(tmp_path):
    results = [
        StageCapacity(
            stage="01-monolith",
            slo_ms=100,
            steps=[step(1, 150, 12), step(2, 300, 150)],
            scorecard=Scorecard(
                procfile_processes=2,
                os_processes=13,
                idle_memory_mb=350,
                databases=1,
                deployable_units=1,
            ),
        ),
        StageCapacity(stage="04-services", slo_ms=100, error="did not start: port taken"),
    ]
    text = capacity_markdown(results, title="Capacity", settings={"SLO": "p95 <= 100 ms"})
    assert "| 01-monolith | 150 | 1 |" in text
    assert "| 04-services | - | - | - | - | did not start: port taken |" in text
    assert "| processes (Procfile / OS) | 2 / 13 | 0 / 0 |" in text
    capacity_chart(results, tmp_path / "chart.png", slo_ms=100)
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_short_real_run_of_stage_01_measures_steps_and_writes_the_report(tmp_path):
    """The whole command against a started stage 01: two steps of 3 s (about 30 s)."""
    env = {**os.environ, "SHOPCTL_VAR_DIR": str(tmp_path)}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "shopctl",
            "capacity",
            "--stage",
            "01",
            "--step",
            "3s",
            "--max-users",
            "2",
            "--slo",
            "5000",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report_dirs = sorted((tmp_path / "reports").glob("capacity-*"))
    assert report_dirs, completed.stdout
    measured = json.loads((report_dirs[-1] / "capacity.json").read_text())
    steps = measured["stages"][0]["steps"]
    assert [s["users"] for s in steps] == [1, 2]
    assert all(s["requests"] > 0 and s["failures"] == 0 for s in steps)
    assert all(s["server_cpu_seconds"] > 0 and s["client_cpu_seconds"] > 0 for s in steps)
    assert measured["stages"][0]["scorecard"]["databases"] == 1
    assert (report_dirs[-1] / "chart.png").is_file()
