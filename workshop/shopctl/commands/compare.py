"""`shopctl compare`: every stage under the same Locust load, one after another, and a report.

Each stage starts on a freshly migrated and seeded database (its own `shop_NN_compare`
database in real mode, its own var folder in embedded mode), is loaded with the shared
journey, and is stopped before the next one starts, so no stage steals the others' CPU.
"""

import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from shopctl import ShopctlError
from shopctl.env import VAR_DIR, isolated_environment, tool_environment
from shopctl.env import mode as run_mode
from shopctl.locust_run import aggregated, locust_command, read_stats, seconds_of
from shopctl.report import StageRun, chart, group_table, machine, markdown, stage_table
from shopctl.runner import RunningStage, free_port
from shopctl.stages import Stage, all_stages, find_stage

# Read before measuring: a web worker's first requests import and build what the next ones
# reuse, and the first stage loaded should not pay for that when the others do not.
WARM_UP_PATHS = ("/api/products/", "/api/products/1/", "/api/products/?q=guide")
WARM_UP_ROUNDS = 10
PROGRESS_EVERY = 10  # seconds between progress lines during a load run
# A run of D seconds that has not ended after D + this is stuck: stop it.
LOCUST_GRACE = 60


# `--mode real` without DATABASE_URL / BROKER_URL: the servers of a workshop machine.
LOCAL_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/shop"
LOCAL_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"


def compare(
    stage_numbers: list[str],
    *,
    users: int,
    spawn_rate: float,
    duration: str,
    mode: str | None = None,
) -> int:
    """Load every given stage (all by default) in turn; 0 if every run was clean."""
    _choose_mode(mode)
    stages = [find_stage(number) for number in stage_numbers] if stage_numbers else all_stages()
    missing = [stage.name for stage in stages if not stage.locustfile.is_file()]
    if missing:
        raise ShopctlError(f"no locustfile.py in {', '.join(missing)}")
    seconds = seconds_of(duration)
    report_dir = VAR_DIR / "reports" / f"compare-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    report_dir.mkdir(parents=True)
    print(
        f"shopctl: comparing {', '.join(stage.name for stage in stages)}: {users} users, "
        f"{spawn_rate:g}/s, {seconds} s each; about {len(stages) * (seconds + 30) // 60 + 1} "
        f"min in all"
    )

    runs = [
        _measure(
            stage,
            f"[{index}/{len(stages)} {stage.name}]",
            report_dir / stage.name,
            users=users,
            spawn_rate=spawn_rate,
            seconds=seconds,
        )
        for index, stage in enumerate(stages, start=1)
    ]

    settings = {
        "users": str(users),
        "spawn rate": f"{spawn_rate:g} per second",
        "duration": f"{seconds} s per stage",
        "journey": "workshop/loadtest/journey.py, through each stage's locustfile.py",
        "mode": run_mode(tool_environment()),  # embedded, or real (PostgreSQL and RabbitMQ)
        **machine(),
    }
    title = f"Stages under the same load ({settings['date']})"
    (report_dir / "report.md").write_text(markdown(runs, title=title, settings=settings))
    (report_dir / "machine.json").write_text(json.dumps(settings, indent=2) + "\n")
    chart(runs, report_dir / "chart.png", title=f"{users} users, {seconds} s per stage")

    print(f"\n{stage_table(runs)}\n\n{group_table(runs)}\n")
    clean = all(
        run.measured and run.exit_code == 0 and not run.failures and not run.error for run in runs
    )
    if not clean:
        print("shopctl: some runs had failures or no figures; report.md lists them")
    print(f"shopctl: report in {report_dir}/ (report.md, chart.png, machine.json, <stage>/ CSVs)")
    return 0 if clean else 1


def _choose_mode(mode: str | None) -> None:
    """Point this run (and the stages it starts) at the chosen database and broker."""
    if mode == "embedded":
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("BROKER_URL", None)
    elif mode == "real":
        os.environ["DATABASE_URL"] = os.environ.get("DATABASE_URL") or LOCAL_DATABASE_URL
        os.environ["BROKER_URL"] = os.environ.get("BROKER_URL") or LOCAL_BROKER_URL


def _measure(
    stage: Stage,
    label: str,
    run_dir: Path,
    *,
    users: int,
    spawn_rate: float,
    seconds: int,
) -> StageRun:
    """Start the stage fresh, load it, stop it; the run as read back from Locust's files."""
    run_dir.mkdir(parents=True)
    csv_prefix = run_dir / "locust"
    var_dir = VAR_DIR / "compare" / stage.name
    env = isolated_environment(
        port=free_port(stage.port_offsets()),
        var_dir=var_dir,
        database=f"shop_{stage.number}_compare",
    )
    print(f"{label} start: migrate, seed, wait until ready (log in {var_dir}/processes.log)")
    # Stopped when this block ends, however it ends (Ctrl-C included).
    with RunningStage(stage, env, log_path=var_dir / "processes.log") as running:
        try:
            running.start()
        except ShopctlError as error:
            print(f"{label} did not start: {error}")
            return StageRun(
                stage=stage.name, csv_prefix=csv_prefix, error=f"did not start: {error}"
            )
        try:
            _warm_up(running.base_url)
            exit_code = _load(running, csv_prefix, label, users, spawn_rate, seconds)
        except (ShopctlError, httpx.HTTPError) as error:
            # One stage that hangs or breaks must not cost the others their report.
            print(f"{label} failed: {error}")
            return StageRun.read(stage.name, csv_prefix, exit_code=None, error=str(error))
        print(f"{label} stop")
    return StageRun.read(stage.name, csv_prefix, exit_code)


def _warm_up(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10, trust_env=False) as client:
        for _ in range(WARM_UP_ROUNDS):
            for path in WARM_UP_PATHS:
                client.get(path)


def _load(
    running: RunningStage,
    csv_prefix: Path,
    label: str,
    users: int,
    spawn_rate: float,
    seconds: int,
) -> int:
    """Run Locust against the stage, printing what it has counted so far every few seconds."""
    command = locust_command(
        running.stage.locustfile,
        host=running.base_url,
        users=users,
        spawn_rate=spawn_rate,
        run_time=f"{seconds}s",
        csv_prefix=csv_prefix,
        extra=("--only-summary", "--html", str(csv_prefix.parent / "report.html")),
    )
    log_path = csv_prefix.parent / "locust.log"
    print(f"{label} load: {users} users for {seconds} s (Locust's output in {log_path})")
    started = time.monotonic()
    next_progress = started + PROGRESS_EVERY
    with log_path.open("w") as log:
        locust = subprocess.Popen(
            command,
            cwd=running.stage.path,
            env=running.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            while locust.poll() is None:
                elapsed = time.monotonic() - started
                if elapsed > seconds + LOCUST_GRACE:
                    locust.kill()
                    raise ShopctlError(f"Locust still running {elapsed:.0f} s after its start")
                time.sleep(1)
                if time.monotonic() >= next_progress:
                    next_progress += PROGRESS_EVERY
                    _progress(label, csv_prefix, seconds - (time.monotonic() - started))
        except BaseException:
            locust.kill()
            locust.wait()
            raise
    total = aggregated(read_stats(csv_prefix))
    done = f"{total.requests} requests, {total.failures} failures" if total else "no figures"
    print(f"{label} load: done, {done} (Locust exit code {locust.returncode})")
    return locust.returncode


def _progress(label: str, csv_prefix: Path, seconds_left: float) -> None:
    total = aggregated(read_stats(csv_prefix))
    so_far = f", {total.requests} requests and {total.failures} failures so far" if total else ""
    print(f"{label} load: {max(seconds_left, 0):.0f} s left{so_far}")
