"""`shopctl load`: a Locust load run against a stage, with CSV and HTML reports."""

import contextlib
import os
import subprocess
from datetime import UTC, datetime

from shopctl import ShopctlError
from shopctl.env import DEFAULT_PORT, VAR_DIR, isolated_environment, tool_environment
from shopctl.locust_run import locust_command, read_stats, table
from shopctl.runner import RunningStage, free_port, health
from shopctl.stages import Stage, find_stage
from shopctl.tables import print_table


def load(
    stage_number: str, *, users: int, spawn_rate: float, duration: str, host: str | None
) -> int:
    """Load `host`, or the stage already running on port 8000, or the stage started for the
    run; return Locust's exit code (1 when any request failed)."""
    stage = find_stage(stage_number)
    if not stage.locustfile.is_file():
        raise ShopctlError(f"{stage.name} has no locustfile.py")
    timestamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report_dir = VAR_DIR / "reports" / f"load-{stage.name}-{timestamp}"

    already_running = None if host else _running_stage(stage)
    with contextlib.ExitStack() as lifetime:
        if host:
            target, env = host.rstrip("/"), tool_environment()
            print(f"shopctl: loading {target} with {stage.name}'s locustfile")
        elif already_running:
            target, env = already_running, tool_environment()
            print(f"shopctl: loading the {stage.name} already running at {target}")
        else:
            var_dir = VAR_DIR / "load" / stage.name
            env = isolated_environment(
                port=free_port(stage.port_offsets()),
                var_dir=var_dir,
                database=f"shop_{stage.number}_load",
            )
            log_path = var_dir / "processes.log"
            print(f"shopctl: starting {stage.name} for this run (log in {log_path})…")
            # Stopped when this block ends, however it ends (Ctrl-C included).
            running = lifetime.enter_context(RunningStage(stage, env, log_path=log_path))
            running.start()
            target = running.base_url

        print(
            f"shopctl: {users} users, {spawn_rate:g}/s, for {duration}; Locust prints its "
            "figures every few seconds",
        )
        report_dir.mkdir(parents=True)
        csv_prefix = report_dir / "locust"
        command = locust_command(
            stage.locustfile,
            host=target,
            users=users,
            spawn_rate=spawn_rate,
            run_time=duration,
            csv_prefix=csv_prefix,
            extra=("--html", str(report_dir / "report.html")),
        )
        try:
            returncode = subprocess.run(command, cwd=stage.path, env=env).returncode
        except KeyboardInterrupt:
            returncode = 130  # stopped early: still worth showing what was measured

    rows = read_stats(csv_prefix)
    if rows:
        print(f"\n{stage.name} under load at {target}:")
        print_table(table(rows))
        print()
    print(f"shopctl: reports in {report_dir}/ (report.html, locust_stats.csv, …)")
    return returncode


def _running_stage(stage: Stage) -> str | None:
    """The base URL of this stage if it is the one `make run` serves now, else None."""
    base_url = f"http://127.0.0.1:{os.environ.get('SHOP_PORT') or DEFAULT_PORT}"
    answer = health(base_url)
    return base_url if answer and answer.get("stage") == stage.name else None
