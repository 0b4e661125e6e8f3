"""`shopctl test`: the workshop's own tests, then each stage's own tests, the contract suite
and a Locust smoke run against the stage started on a free port, then a summary CI can read."""

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from shopctl import PYTEST_NO_TESTS_COLLECTED, ShopctlError, supervisor
from shopctl.env import (
    DEFAULT_PORT,
    VAR_DIR,
    isolated_environment,
    stage_environment,
    tool_environment,
)
from shopctl.locust_run import aggregated, locust_command, one_line, read_stats
from shopctl.runner import RunningStage, free_port
from shopctl.stages import REPO_ROOT, Stage, all_stages, find_stage
from shopctl.tables import new_table, print_table

CONTRACT_SUITE = REPO_ROOT / "workshop" / "contract"
SCHEMATHESIS_CONFIG = CONTRACT_SUITE / "schemathesis.toml"
SCHEMA_TIMEOUT = 180  # seconds for each schemathesis run; a bounded run takes well under it
# The operations that need staff: whose security names a scheme (public ones have none).
STAFF_OPERATIONS = "/security/0/basicAuth == []"
# The workshop's own tests (shopctl, docker-compose.yml and the Dockerfiles, read offline) are
# reported like a stage's step, under the name "workshop".
WORKSHOP = Stage(name="workshop", number="", path=REPO_ROOT / "workshop")
WORKSHOP_TESTS = WORKSHOP.path / "tests"
SKIP_SAME_IN_EVERY_MODE = "SHOPCTL_SKIP_SAME_IN_EVERY_MODE"
LOG_TAIL_LINES = 40
MAX_PARALLEL_TEST_FOLDERS = 4  # a stage's test folders run side by side, one per core
MAX_WORKSHOP_WORKERS = 4  # more would start more stages at once than a laptop has memory for
# The smoke run: short, light, and every request must succeed.
# Each stage is loaded further by `make load` and `make capacity`; this only proves the
# locustfile and the stage agree.
SMOKE_USERS, SMOKE_SPAWN_RATE, SMOKE_RUN_TIME = 10, 10, "4s"
SMOKE_TIMEOUT = 120  # seconds; a 4 s run that is still going after this hangs


@dataclass
class Step:
    stage: str
    name: str
    result: str = "ok"  # "ok", "no tests", "FAILED", "not run", "interrupted"
    detail: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.result in ("ok", "no tests")

    def fail(self, detail: str) -> None:
        self.result, self.detail = "FAILED", detail


class Steps:
    """Runs and times the steps of every stage, and remembers them for the summary."""

    def __init__(self) -> None:
        self.done: list[Step] = []

    @contextmanager
    def step(self, stage: Stage, name: str) -> Iterator[Step]:
        """A timed step: the body sets the step's result; a ShopctlError fails the step."""
        step = Step(stage.name, name)
        print(f"[{stage.name}] {name} …")
        started = time.monotonic()
        try:
            yield step
        except ShopctlError as error:
            step.fail(str(error))
        except KeyboardInterrupt:
            step.result = "interrupted"
            raise
        finally:
            step.seconds = time.monotonic() - started
            self.done.append(step)
            detail = f": {step.detail}" if step.detail else ""
            print(
                f"[{stage.name}] {name} … {step.result}{detail} ({step.seconds:.1f} s)", flush=True
            )

    def not_run(self, stage: Stage, name: str, why: str) -> None:
        step = Step(stage.name, name, result="not run", detail=why)
        self.done.append(step)
        print(f"[{stage.name}] {name} … not run: {why}")

    def print_summary(self) -> None:
        table = new_table("stage", "step", "result", "seconds", numbers=("seconds",))
        for step in self.done:
            table.add_row(step.stage, step.name, step.result, f"{step.seconds:.1f}")
        print_table(table)
        passed = sum(step.passed for step in self.done)
        failed = len(self.done) - passed
        # CI reads this line: keep it the last one printed, and its words as they are.
        print(f"shopctl: {passed} passed, {failed} failed")

    @property
    def all_passed(self) -> bool:
        return all(step.passed for step in self.done)


def test(stage_numbers: list[str]) -> int:
    """Test the given stages, and the workshop's own suite when asked for by name
    ("workshop"); everything when nothing is given. 0 when all passed."""
    with_workshop, stages = what_to_test(stage_numbers)
    steps = Steps()
    interrupted = False
    try:
        if with_workshop:
            print("\n== workshop ==")
            with steps.step(WORKSHOP, "pytest") as step:
                run_workshop_tests(step)
        for stage in stages:
            check_stage(stage, steps)
    except KeyboardInterrupt:
        interrupted = True
        print("\nshopctl: interrupted")
    print("\n== summary ==")
    steps.print_summary()
    if interrupted:
        return 130
    return 0 if steps.all_passed else 1


def what_to_test(stage_numbers: list[str]) -> tuple[bool, list[Stage]]:
    """(whether to run the workshop's own suite, the stages to test) for `--stage` values.

    Nothing given: everything. Otherwise only what was named, "workshop" included: a
    learner's half-done exercise at one stage must not fail the tests of another (the
    workshop's suite proves the exercises and reads every stage's documents)."""
    if not stage_numbers:
        stages = all_stages()
        if not stages:
            raise ShopctlError(f"no stage folders (01-…, 02-…) in {REPO_ROOT}")
        return True, stages
    numbers = [number for number in stage_numbers if number != WORKSHOP.name]
    return WORKSHOP.name in stage_numbers, [find_stage(number) for number in numbers]


def check_stage(stage: Stage, steps: Steps) -> None:
    """The five steps of one stage; the stage is stopped whatever happens in between."""
    print(f"\n== stage {stage.name} ==")
    with steps.step(stage, "pytest") as step:
        run_stage_tests(stage, step)

    var_dir = VAR_DIR / "test" / stage.name / "e2e"
    log_path = var_dir / "processes.log"
    running: RunningStage | None = None
    ready = False
    # The stage's lifetime: leaving this block, however (Ctrl-C included), stops the stage,
    # even if the "stop" step below was itself cut short.
    with contextlib.ExitStack() as lifetime:
        try:
            with steps.step(stage, "start") as step:
                env = isolated_environment(
                    port=free_port(stage.port_offsets()),
                    var_dir=var_dir,
                    database=f"shop_{stage.number}_e2e",
                )
                running = lifetime.enter_context(RunningStage(stage, env, log_path=log_path))
                running.start()
                ready = True
                step.detail = f"{running.base_url}, log in {log_path}"
            if ready:
                with steps.step(stage, "contract") as step:
                    run_contract_suite(running, step)
                with steps.step(stage, "schema") as step:
                    run_schema_check(running, step)
                with steps.step(stage, "locust") as step:
                    run_locust_smoke(running, var_dir / "locust", step)
            else:
                steps.not_run(stage, "contract", "the stage did not start")
                steps.not_run(stage, "schema", "the stage did not start")
                steps.not_run(stage, "locust", "the stage did not start")
        finally:
            with steps.step(stage, "stop") as step:
                # supervisord restarts a process that dies and the stage goes on serving, so
                # the tests may pass regardless: a death is a failure all the same.
                died = running.stopped_by_itself() if running else None
                deaths = running.deaths() if running else {}
                leftovers = running.stop() if running else 0
                killed = running.killed() if running else []
                if running is None:
                    step.detail = "nothing was started"
                elif died is not None and ready:
                    step.fail(f"the stage had stopped by itself (supervisord exit code {died})")
                elif deaths and ready:
                    step.fail(
                        "died and restarted during the tests: "
                        + ", ".join(f"{name} {count}x" for name, count in deaths.items())
                    )
                elif leftovers:
                    step.fail(f"{leftovers} process(es) outlived supervisord and had to be killed")
                elif killed:
                    step.fail(
                        f"{', '.join(killed)} did not stop within "
                        f"{supervisor.STOP_WAIT_SECONDS} s of SIGTERM: supervisord killed it"
                    )
    if not ready:
        _show_log(log_path)
    elif not all(step.passed for step in steps.done[-4:]):
        print(f"[{stage.name}] the stage's processes logged to {log_path}")


def run_stage_tests(stage: Stage, step: Step) -> None:
    """`pytest` in each of the stage's test folders; pytest-django makes the test databases.

    From stage 03 on a stage has several Django projects, a test folder each. They share no
    database (each names its own test databases) and no file (each gets a var dir of its
    own), so they run side by side, one per core, and each one's output is shown whole
    when it ends."""
    var_root = VAR_DIR / "test" / stage.name / "pytest"
    shutil.rmtree(var_root, ignore_errors=True)
    folders = stage.test_folders()
    if len(folders) == 1:
        env = stage_environment(port=DEFAULT_PORT, var_dir=var_root)
        command = [sys.executable, "-m", "pytest"]
        codes = {folders[0]: subprocess.run(command, cwd=folders[0], env=env).returncode}
    else:
        codes = run_side_by_side(stage, folders, var_root)
    failed = [
        f"{folder.name}/ (exit code {code})"
        for folder, code in codes.items()
        if code not in (0, PYTEST_NO_TESTS_COLLECTED)
    ]
    if failed:
        step.fail(f"pytest failed in {', '.join(failed)}")
    elif all(code == PYTEST_NO_TESTS_COLLECTED for code in codes.values()):  # none anywhere
        step.result = "no tests"


def run_side_by_side(stage: Stage, folders: list[Path], var_root: Path) -> dict[Path, int]:
    """pytest in each folder, as many at once as there are cores; {folder: exit code}.

    Each run writes to a log of its own, printed when it ends; whatever ends this function
    early (Ctrl-C) kills the runs still going, as `subprocess.run` would."""
    workers = min(MAX_PARALLEL_TEST_FOLDERS, os.cpu_count() or 1)
    waiting = list(folders)
    running: dict[Path, tuple[subprocess.Popen, Path]] = {}
    codes: dict[Path, int] = {}
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                folder = waiting.pop(0)
                log = var_root / f"{folder.name}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                env = stage_environment(port=DEFAULT_PORT, var_dir=var_root / folder.name)
                with log.open("wb") as output:
                    running[folder] = (
                        subprocess.Popen(
                            [sys.executable, "-m", "pytest"],
                            cwd=folder,
                            env=env,
                            stdout=output,
                            stderr=subprocess.STDOUT,
                        ),
                        log,
                    )
                print(f"[{stage.name}] pytest in {_shown(stage, folder)}/: started", flush=True)
            for folder, (process, log) in list(running.items()):
                if process.poll() is None:
                    continue
                del running[folder]
                codes[folder] = process.returncode
                print(f"[{stage.name}] pytest in {_shown(stage, folder)}/:", flush=True)
                sys.stdout.write(log.read_text(errors="replace"))
                sys.stdout.flush()
            time.sleep(0.1)
    finally:
        for process, _ in running.values():
            process.kill()
            process.wait()
    return {folder: codes[folder] for folder in folders}


def _shown(stage: Stage, folder: Path) -> Path:
    return folder.relative_to(stage.path.parent)


def run_workshop_tests(step: Step) -> None:
    """`pytest workshop/tests`: the tool's own tests; the stages they start (stopping one
    by a signal) keep their data in a tmp dir, on ports of their own.

    With SKIP_SAME_IN_EVERY_MODE set (CI sets it on the first of its two runs), the tests
    marked `same_in_every_mode` (documents, exercises, manifests: nothing that a database or
    a broker changes) are left to the other run instead of running twice."""
    command = [sys.executable, "-m", "pytest", str(WORKSHOP_TESTS), *parallel_options()]
    if os.environ.get(SKIP_SAME_IN_EVERY_MODE):
        print(
            f"[workshop] {SKIP_SAME_IN_EVERY_MODE} is set: the tests marked same_in_every_mode "
            "are left to the run without it"
        )
        command += ["-m", "not same_in_every_mode"]
    returncode = subprocess.run(command, cwd=REPO_ROOT, env=tool_environment()).returncode
    _record_pytest(returncode, step)


def parallel_options() -> list[str]:
    """pytest-xdist's options for the workshop's suite: a worker per core and one more, up to
    four.

    Most of the suite's time is spent waiting on what its tests start (stages, stage copies
    that run an exercise's check), so the cores have room for one more worker than they
    number: measured on 2 cores, the suite took 186 s with 2 workers and 159 s with 3. The
    files share nothing but the machine (each test that starts a stage draws its own ports
    and names its own database). Each file stays on one worker (`loadfile`): its fixtures
    start a stage once for all its tests."""
    workers = min(MAX_WORKSHOP_WORKERS, (os.cpu_count() or 1) + 1)
    return ["-n", str(workers), "--dist", "loadfile"]


def _record_pytest(returncode: int, step: Step) -> None:
    if returncode == PYTEST_NO_TESTS_COLLECTED:
        step.result = "no tests"
    elif returncode != 0:
        step.fail(f"pytest exit code {returncode}")


def run_contract_suite(running: RunningStage, step: Step) -> None:
    """The black-box contract suite of API.md, against the started stage."""
    if not CONTRACT_SUITE.is_dir():
        step.fail(f"no contract suite at {CONTRACT_SUITE}")
        return
    command = [sys.executable, "-m", "pytest", str(CONTRACT_SUITE), "--base-url", running.base_url]
    returncode = subprocess.run(command, cwd=REPO_ROOT, env=running.env).returncode
    if returncode != 0:
        step.fail(f"pytest exit code {returncode}")


def run_schema_check(running: RunningStage, step: Step) -> None:
    """schemathesis against the stage's /api/schema/: does the API do what its schema says?

    Twice: anonymous (every operation; staff ones must answer 401), then with a staff token
    (the staff operations, which anonymous calls never get past).
    """
    schema_url = f"{running.base_url}/api/schema/?format=json"
    username = running.env.get("SHOP_STAFF_USER", "staff")
    password = running.env.get("SHOP_STAFF_PASSWORD", "staff")
    try:
        login = httpx.post(
            f"{running.base_url}/api/auth/token/",
            json={"username": username, "password": password},
            timeout=30,
        )
        token = login.raise_for_status().json()["token"]
    except (httpx.HTTPError, ValueError, KeyError) as error:
        step.fail(f"no staff token for the schema check: {error}")
        return
    runs = {
        "anonymous": [],
        "staff": ["--header", f"Authorization: Token {token}", "--include-by", STAFF_OPERATIONS],
    }
    failed = []
    for who, options in runs.items():
        command = [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(SCHEMATHESIS_CONFIG),
            "run",
            "--checks",
            "all",
            "--no-color",
            *options,
            schema_url,
        ]
        print(f"[{running.stage.name}] schemathesis, {who}", flush=True)
        try:
            # In the stage's var folder: hypothesis keeps a folder of its own where it runs.
            returncode = subprocess.run(
                command, cwd=running.env["SHOP_VAR_DIR"], env=running.env, timeout=SCHEMA_TIMEOUT
            ).returncode
        except subprocess.TimeoutExpired:
            failed.append(f"{who}: still running after {SCHEMA_TIMEOUT} s")
            continue
        if returncode != 0:
            failed.append(f"{who}: exit code {returncode}")
    if failed:
        step.fail("schemathesis found the schema untrue (" + "; ".join(failed) + ")")


def run_locust_smoke(running: RunningStage, csv_prefix: Path, step: Step) -> None:
    """A short headless Locust run of the stage's locustfile; one failed request fails it."""
    locustfile = running.stage.locustfile
    if not locustfile.is_file():
        step.fail(f"no {locustfile}")
        return
    command = locust_command(
        locustfile,
        host=running.base_url,
        users=SMOKE_USERS,
        spawn_rate=SMOKE_SPAWN_RATE,
        run_time=SMOKE_RUN_TIME,
        csv_prefix=csv_prefix,
        extra=("--only-summary",),
    )
    try:
        returncode = subprocess.run(
            command, cwd=running.stage.path, env=running.env, timeout=SMOKE_TIMEOUT
        ).returncode
    except subprocess.TimeoutExpired:
        step.fail(f"Locust still running after {SMOKE_TIMEOUT} s")
        return
    total = aggregated(read_stats(csv_prefix))
    step.detail = one_line(total) if total else "no statistics written"
    if returncode != 0:
        step.fail(f"Locust exit code {returncode} (1: some request failed); {step.detail}")
    elif total is None or total.requests == 0:
        step.fail(f"no request was made; {step.detail}")


def _show_log(log_path: Path) -> None:
    if not log_path.is_file():
        return
    lines = log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    print(f"---- last {len(lines)} lines of {log_path} ----")
    print("\n".join(lines))
    print("---- end of log ----")
