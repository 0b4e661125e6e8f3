"""`shopctl capacity`: each stage's capacity on this machine, and a scorecard of its costs.

For each stage, one after another: start it fresh, warm it up, measure it idle, then load it
with the shared shopping at no think time (workshop/loadtest/capacity.py) in steps of rising
concurrency, each step a Locust run of its own. A step *keeps the SLO* when its p95 is at most
the SLO and no request failed; the stage's capacity is the highest throughput of such a step,
and the first step that does not keep it is the knee, where the climb stops. CPU seconds and
memory of the stage's processes and of the load generator are read around every step, so the
report can show whether the stage or the client ran out of CPU first.
"""

import json
import resource
import subprocess
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import httpx

from shopctl import ShopctlError
from shopctl.capacity_report import (
    Scorecard,
    StageCapacity,
    Step,
    capacity_chart,
    capacity_markdown,
    capacity_table,
    scorecard_table,
)
from shopctl.commands.compare import _choose_mode, _warm_up
from shopctl.env import VAR_DIR, isolated_environment, stage_databases, tool_environment
from shopctl.env import mode as run_mode
from shopctl.locust_run import aggregated, locust_command, read_stats, seconds_of
from shopctl.report import machine
from shopctl.runner import RunningStage, free_port
from shopctl.scorecard import ProcessSample, code_lines, deployable_units, sample, trace_counts
from shopctl.stages import REPO_ROOT, Stage, all_stages, find_stage

LOCUSTFILE = REPO_ROOT / "workshop" / "loadtest" / "capacity.py"
DEFAULT_USER_STEPS = (1, 2, 4, 8, 16, 32, 64)
# A step of S seconds that has not ended after S + this is stuck.
LOCUST_GRACE = 60


def capacity(
    stage_numbers: list[str],
    *,
    slo_ms: float,
    step_duration: str,
    max_users: int,
    mode: str | None = None,
) -> int:
    """Measure every given stage (all by default); 0 when every stage was measured."""
    _choose_mode(mode)
    stages = [find_stage(number) for number in stage_numbers] if stage_numbers else all_stages()
    step_seconds = seconds_of(step_duration)
    if step_seconds < 3:
        raise ShopctlError("a step shorter than 3 s measures Locust's start, not the stage")
    user_steps = [users for users in DEFAULT_USER_STEPS if users <= max_users] or [max_users]
    report_dir = VAR_DIR / "reports" / f"capacity-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    report_dir.mkdir(parents=True)
    most = len(stages) * (len(user_steps) * (step_seconds + 4) + 30)
    print(
        f"shopctl: capacity of {', '.join(stage.name for stage in stages)}: p95 SLO "
        f"{slo_ms:g} ms, steps of {', '.join(map(str, user_steps))} users, {step_seconds} s "
        f"each; at most about {most // 60 + 1} min in all (a stage stops at its knee)"
    )
    results = [
        _measure_stage(
            stage,
            f"[{index}/{len(stages)} {stage.name}]",
            report_dir / stage.name,
            slo_ms=slo_ms,
            step_seconds=step_seconds,
            user_steps=user_steps,
        )
        for index, stage in enumerate(stages, start=1)
    ]

    settings = {
        "SLO": f"p95 <= {slo_ms:g} ms and no failed request",
        "steps": f"{', '.join(map(str, user_steps))} users, {step_seconds} s each",
        "load": "workshop/loadtest/capacity.py: the shared shopping, no think time, FastHttpUser",
        "mode": run_mode(tool_environment()),
        **machine(),
    }
    title = f"Capacity of the stages ({settings['date']})"
    (report_dir / "report.md").write_text(
        capacity_markdown(results, title=title, settings=settings)
    )
    (report_dir / "capacity.json").write_text(
        json.dumps({"settings": settings, "stages": [asdict(r) for r in results]}, indent=2) + "\n"
    )
    capacity_chart(results, report_dir / "chart.png", slo_ms=slo_ms)
    print(f"\n{capacity_table(results)}\n\n{scorecard_table(results)}\n")
    measured = all(result.steps and not result.error for result in results)
    if not measured:
        print("shopctl: some stages could not be measured; report.md says why")
    print(f"shopctl: report in {report_dir}/ (report.md, chart.png, capacity.json, <stage>/)")
    return 0 if measured else 1


def _measure_stage(
    stage: Stage,
    label: str,
    run_dir: Path,
    *,
    slo_ms: float,
    step_seconds: int,
    user_steps: list[int],
) -> StageCapacity:
    run_dir.mkdir(parents=True)
    var_dir = VAR_DIR / "capacity" / stage.name
    env = isolated_environment(
        port=free_port(stage.port_offsets()),
        var_dir=var_dir,
        database=f"shop_{stage.number}_capacity",
    )
    result = StageCapacity(stage=stage.name, slo_ms=slo_ms)
    print(f"{label} start: migrate, seed, wait until ready (log in {var_dir}/processes.log)")
    # Stopped when this block ends, however it ends (Ctrl-C included).
    with RunningStage(stage, env, log_path=var_dir / "processes.log") as running:
        try:
            running.start()
        except ShopctlError as error:
            print(f"{label} did not start: {error}")
            result.error = f"did not start: {error}"
            return result
        _measure_running(running, result, label, run_dir, step_seconds, user_steps)
        print(f"{label} stop")
    return result


def _measure_running(
    running: RunningStage,
    result: StageCapacity,
    label: str,
    run_dir: Path,
    step_seconds: int,
    user_steps: list[int],
) -> None:
    stage, env, slo_ms = running.stage, running.env, result.slo_ms
    try:
        _warm_up(running.base_url)
        result.scorecard = _idle_scorecard(stage, running, env)
        print(
            f"{label} idle: {result.scorecard.idle_memory_mb:.0f} MB in "
            f"{result.scorecard.os_processes} processes"
        )
        for users in user_steps:
            step = _step(running, run_dir / f"users-{users:03d}", users, step_seconds)
            result.steps.append(step)
            verdict = "keeps the SLO" if step.keeps(slo_ms) else "KNEE: past the SLO or failing"
            print(f"{label} {step.describe()} -> {verdict}")
            if not step.keeps(slo_ms):
                break
        result.scorecard.loaded_memory_mb = max(step.server_memory_mb for step in result.steps)
    except (ShopctlError, httpx.HTTPError) as error:
        # One stage that hangs or breaks must not cost the others their report.
        print(f"{label} failed: {error}")
        result.error = str(error)


def _idle_scorecard(stage: Stage, running: RunningStage, env: dict[str, str]) -> Scorecard:
    """What the stage is made of and costs at rest; hops and queries from a few traced
    requests (sent before the load, so their spans are easy to find)."""
    idle = sample(running.processes())
    code, tests = code_lines(stage.path)
    return Scorecard(
        procfile_processes=len(stage.long_running()),
        os_processes=len(idle),
        idle_memory_mb=sum(process.memory_mb for process in idle),
        databases=len(stage_databases(env)),
        deployable_units=deployable_units(stage),
        code_lines=code,
        test_lines=tests,
        traced=trace_counts(running.base_url, Path(env["SHOP_VAR_DIR"])),
    )


def _step(running: RunningStage, run_dir: Path, users: int, seconds: int) -> Step:
    """One Locust run of `users` users; the stage's and the client's CPU and memory with it."""
    run_dir.mkdir(parents=True)
    csv_prefix = run_dir / "locust"
    command = locust_command(
        LOCUSTFILE,
        host=running.base_url,
        users=users,
        spawn_rate=users,  # all at once: the step measures this concurrency, not a ramp
        run_time=f"{seconds}s",
        csv_prefix=csv_prefix,
        extra=("--only-summary",),
    )
    before = sample(running.processes())
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    with (run_dir / "locust.log").open("w") as log:
        try:
            locust = subprocess.run(
                command,
                cwd=REPO_ROOT,
                env=running.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=seconds + LOCUST_GRACE,
            )
        except subprocess.TimeoutExpired as error:
            raise ShopctlError(
                f"Locust still running {seconds + LOCUST_GRACE} s after its start"
            ) from error
    elapsed = time.monotonic() - started
    after = sample(running.processes())
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = aggregated(read_stats(csv_prefix))
    if total is None:
        raise ShopctlError(
            f"Locust wrote no figures (exit code {locust.returncode}); see {run_dir}/locust.log"
        )
    return Step(
        users=users,
        requests=total.requests,
        failures=total.failures,
        requests_per_second=total.requests_per_second,
        p50_ms=total.p50,
        p95_ms=total.p95,
        p99_ms=total.p99,
        seconds=elapsed,
        server_cpu_seconds=_cpu_between(before, after),
        client_cpu_seconds=(client_after.ru_utime + client_after.ru_stime)
        - (client_before.ru_utime + client_before.ru_stime),
        server_memory_mb=sum(process.memory_mb for process in after),
    )


def _cpu_between(before: list[ProcessSample], after: list[ProcessSample]) -> float:
    """CPU seconds the stage's processes used between two samples; a process started in
    between (a restarted worker) counts from zero."""
    earlier = {process.pid: process.cpu_seconds for process in before}
    return sum(process.cpu_seconds - earlier.get(process.pid, 0.0) for process in after)
