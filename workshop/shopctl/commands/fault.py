"""`shopctl fault`: break one part of a running stage on purpose, for a while, and watch the
rest (`make fault STAGE=04 FAULT="kill payments"`; without FAULT, what it can do).

It acts on the stage that `make run` started from this checkout, and only on it: the
processes are found through that run's supervisord (its socket and the run's id are in
`<SHOP_VAR_DIR>/run/supervisor.json`), never by a name pattern that could match another
stage on the same machine. A fault that lasts (pause, latency, errors, broker) holds the
terminal for its duration and is undone when it ends, on Ctrl-C too.
"""

import contextlib
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from shopctl import ShopctlError, broker_proxy, supervisor
from shopctl.env import VAR_DIR
from shopctl.runner import RUN_ID_VARIABLE
from shopctl.stages import Stage, find_stage

DEFAULT_SECONDS = 30
SECONDS_TO_COME_BACK = 30
PROXY_ANSWER_SECONDS = 3
FAULTS_FOLDER = "faults"  # the services' fault interceptors read it (chassis/faults.py)
DURATION = re.compile(r"^(?P<number>\d+(?:\.\d+)?)(?P<unit>ms|s|m)$")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60}

USAGE = """\
make fault STAGE=NN FAULT="…", on a stage that `make run STAGE=NN` is running:

  kill <process>                   SIGKILL: a crash; supervisord restarts it alone
  restart <process>                a clean stop and start (a deploy)
  pause <process> [30s]            SIGSTOP, then SIGCONT: a process that hangs
  latency <process> <ms> [30s]     every gRPC call it answers waits that long first
  errors <process> [30s]           every gRPC call it answers fails with UNAVAILABLE
  broker [30s]                     the message broker unreachable for this stage only
  clear                            end every fault of the stage now

<process> is a Procfile name; durations are like 500ms, 20s, 2m (default 30s).
After any fault: `make invariants STAGE=NN` checks that the books still agree."""


@dataclass
class RunningRun:
    """The stage `make run` is running, as its supervisord knows it."""

    stage: Stage
    var_dir: Path
    socket: Path
    password: str
    run_id: str
    real_broker: bool

    def states(self) -> dict[str, dict]:
        return supervisor.program_states(self.socket, self.password)

    def rpc(self):
        return supervisor.connect(self.socket, self.password).supervisor

    def pid(self, name: str) -> int:
        """The pid of the program (the leader of its process group), checked to be ours."""
        states = self.states()
        if name not in states:
            raise ShopctlError(
                f"{self.stage.name} has no process {name!r}; its processes: {', '.join(states)}"
            )
        info = states[name]
        if info["statename"] != "RUNNING" or not info["pid"]:
            raise ShopctlError(f"{name} is not running now ({info['statename']})")
        try:
            ours = psutil.Process(info["pid"]).environ().get(RUN_ID_VARIABLE) == self.run_id
        except psutil.Error:
            ours = False
        if not ours:  # pid reused meanwhile, or not this run's: never signal it
            raise ShopctlError(f"pid {info['pid']} is not {name} of this run any more")
        return info["pid"]


def fault(stage_number: str, words: list[str]) -> int:
    stage = find_stage(stage_number)
    if not words:
        print(USAGE)
        with contextlib.suppress(ShopctlError):
            _show_processes(find_run(stage))
        return 0
    action, arguments = words[0], words[1:]
    run = find_run(stage)
    if action == "kill":
        kill(run, _one_name(arguments, action))
    elif action == "restart":
        restart(run, _one_name(arguments, action))
    elif action == "pause":
        name, seconds = _name_and_duration(arguments, action)
        pause(run, name, seconds)
    elif action == "latency":
        if len(arguments) not in (2, 3):
            raise ShopctlError(
                'latency takes a process and a delay: FAULT="latency payments 500ms"'
            )
        milliseconds = _duration(arguments[1], default_unit="ms") * 1000
        seconds = _duration(arguments[2]) if len(arguments) == 3 else DEFAULT_SECONDS
        grpc_fault(run, arguments[0], seconds, latency_ms=round(milliseconds), error=None)
    elif action == "errors":
        name, seconds = _name_and_duration(arguments, action)
        grpc_fault(run, name, seconds, latency_ms=0, error="UNAVAILABLE")
    elif action == "broker":
        if len(arguments) > 1:
            raise ShopctlError('broker takes only a duration: FAULT="broker 30s"')
        broker_away(run, _duration(arguments[0]) if arguments else DEFAULT_SECONDS)
    elif action == "clear":
        clear(run)
    else:
        raise ShopctlError(f"no fault {action!r}\n\n{USAGE}")
    return 0


def find_run(stage: Stage) -> RunningRun:
    """The run of this stage that `make run` started, from its supervisor.json."""
    var_dir = Path(os.environ.get("SHOP_VAR_DIR") or VAR_DIR / stage.name)
    state = supervisor.read_state(var_dir)
    not_running = (
        f"{stage.name} is not running from this checkout ({var_dir}): start it with "
        f"`make run STAGE={stage.number}` in another terminal"
    )
    if not state or not psutil.pid_exists(state["pid"]):
        raise ShopctlError(not_running)
    run = RunningRun(
        stage=stage,
        var_dir=var_dir,
        socket=Path(state["socket"]),
        password=state["password"],
        run_id=state["run_id"],
        real_broker=bool(state.get("real_broker")),
    )
    run.states()  # answers, or a clear error
    return run


def kill(run: RunningRun, name: str) -> None:
    """SIGKILL to the program's whole process group (a gunicorn and its workers, say): no
    goodbye, as a crash; then how long supervisord takes to have it running again."""
    pid = run.pid(name)
    started = time.monotonic()
    os.killpg(pid, signal.SIGKILL)
    print(f"killed {name} (pid {pid} and its process group) at {time.strftime('%H:%M:%S')}")
    _report_back(run, name, pid, started)


def restart(run: RunningRun, name: str) -> None:
    """A clean stop (SIGTERM, SIGKILL after supervisord's stopwaitsecs), then a start."""
    pid = run.pid(name)
    started = time.monotonic()
    run.rpc().stopProcess(f"{supervisor.GROUP}:{name}", True)
    print(f"stopped {name} (pid {pid}) in {time.monotonic() - started:.1f} s")
    run.rpc().startProcess(f"{supervisor.GROUP}:{name}", True)
    _report_back(run, name, pid, started)


def pause(run: RunningRun, name: str, seconds: float) -> None:
    """SIGSTOP to the program's process group, SIGCONT when the time is up or on Ctrl-C."""
    pid = run.pid(name)
    os.killpg(pid, signal.SIGSTOP)
    try:
        print(f"paused {name} (pid {pid}): it holds its connections and answers nothing")
        _hold(seconds, f"{name} paused")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGCONT)
        print(f"resumed {name}")


def grpc_fault(
    run: RunningRun, name: str, seconds: float, *, latency_ms: int, error: str | None
) -> None:
    """Latency or errors on every call of one gRPC service, through its fault file."""
    command = run.stage.processes().get(name, "")
    if "serve_grpc" not in command:
        servers = [n for n, c in run.stage.processes().items() if "serve_grpc" in c]
        raise ShopctlError(
            f"{name!r} is not a gRPC server of {run.stage.name}; "
            f"those are: {', '.join(servers) or 'none at this stage'}"
        )
    path = run.var_dir / FAULTS_FOLDER / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    until = time.time() + seconds
    what = f"{latency_ms} ms more on each call" if latency_ms else f"every call fails ({error})"
    # Written whole, then renamed: the service never reads half a file.
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"latency_ms": latency_ms, "error": error, "until": until}))
    partial.replace(path)
    try:
        print(f"{name}: {what}, for {seconds:g} s (the service reads it within 0.5 s)")
        _hold(seconds, f"{name}: {what}")
    finally:
        path.unlink(missing_ok=True)
        print(f"{name}: fault ended")


def broker_away(run: RunningRun, seconds: float) -> None:
    """The stage's broker out of reach for a while: the file broker's folder moved aside
    (embedded mode), or the stage's connections to RabbitMQ cut and refused at shopctl's
    proxy (real mode, `shopctl/broker_proxy.py`). Either way this stage alone loses it."""
    if run.real_broker:
        _broker_cut_at_proxy(run, seconds)
    else:
        with _broker_folder_away(run.var_dir / "broker" / "queue"):
            print(
                f"broker: {run.var_dir / 'broker' / 'queue'} is out of reach for {seconds:g} s: "
                "publishing and consuming fail as with a broker that is down"
            )
            _hold(seconds, "broker away")
    print("broker: back")
    _start_what_gave_up(run)


def _broker_cut_at_proxy(run: RunningRun, seconds: float) -> None:
    """Ask the run's broker proxy to cut and refuse the stage's connections until `until`,
    see that it did, hold, then lift it (on Ctrl-C too)."""
    state = broker_proxy.read_state(run.var_dir)
    if not state:
        raise ShopctlError(
            f"{run.stage.name} reaches its broker directly, not through shopctl's proxy (only "
            "a plain amqp:// BROKER_URL with one broker is proxied), so this tool cannot take "
            "it away from this stage alone; it will not stop the RabbitMQ others share"
        )
    path = run.var_dir / FAULTS_FOLDER / broker_proxy.FAULT_FILE
    until = time.time() + seconds
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({"until": until}))
    partial.replace(path)
    try:
        taken = _wait_for_proxy(run, until)
        print(
            f"broker: the stage's {taken['connections_cut']} connection(s) to RabbitMQ at "
            f"{state['upstream']} cut at its proxy (127.0.0.1:{state['port']}), new ones "
            f"refused, for {seconds:g} s: publishing and consuming fail as with a broker "
            "that is down (other users of that RabbitMQ see nothing)"
        )
        _hold(seconds, "broker away")
    finally:
        path.unlink(missing_ok=True)


def _wait_for_proxy(run: RunningRun, until: float) -> dict:
    """The proxy's state once it says it took the fault (it reads the file ten times a
    second); connections_cut is how many it cut for this fault."""
    before = broker_proxy.read_state(run.var_dir) or {}
    deadline = time.monotonic() + PROXY_ANSWER_SECONDS
    while time.monotonic() < deadline:
        state = broker_proxy.read_state(run.var_dir) or {}
        if state.get("away_until") == until:
            return {
                **state,
                "connections_cut": state["connections_cut"] - before.get("connections_cut", 0),
            }
        time.sleep(0.05)
    raise ShopctlError(
        f"the broker proxy of {run.stage.name} did not take the fault within "
        f"{PROXY_ANSWER_SECONDS:g} s: is the stage still running?"
    )


@contextlib.contextmanager
def _broker_folder_away(queue: Path) -> Iterator[None]:
    """The file broker's queue folder moved aside and a plain file put in its place, so that
    every write into it and every listing of it fails (a missing folder would simply be
    created again by the next process that starts; permissions would not stop root)."""
    if not queue.is_dir():
        raise ShopctlError(f"no broker folder {queue}: is the stage running in embedded mode?")
    aside = queue.with_name(f"{queue.name}.away")
    queue.rename(aside)
    queue.write_text("`make fault` took the broker away; it puts the folder back itself\n")
    try:
        yield
    finally:
        queue.unlink()
        aside.rename(queue)


def clear(run: RunningRun) -> None:
    """End every fault of the stage: fault files removed (the broker proxy's too), paused
    processes resumed, the broker folder put back (after a fault command that was killed
    before it could)."""
    for path in (run.var_dir / FAULTS_FOLDER).glob("*.json"):
        path.unlink()
        print(f"removed {path}")
    for info in run.states().values():
        if info["statename"] == "RUNNING" and info["pid"]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(info["pid"], signal.SIGCONT)
    queue = run.var_dir / "broker" / "queue"
    aside = queue.with_name(f"{queue.name}.away")
    if aside.is_dir() and queue.is_file():
        queue.unlink()
        aside.rename(queue)
        print("put the broker folder back")
    _start_what_gave_up(run)
    print(f"{run.stage.name}: no fault in force")


def _start_what_gave_up(run: RunningRun) -> None:
    """A program that kept failing while the fault lasted (it could not reach the broker as
    it started) and that supervisord gave up on: start it again."""
    for name, info in run.states().items():
        if info["statename"] == "FATAL":
            run.rpc().startProcess(f"{supervisor.GROUP}:{name}", True)
            print(f"started {name} again (supervisord had given up on it during the fault)")


def _report_back(run: RunningRun, name: str, old_pid: int, started: float) -> None:
    deadline = started + SECONDS_TO_COME_BACK
    while time.monotonic() < deadline:
        info = run.states().get(name, {})
        if info.get("statename") == "RUNNING" and info.get("pid") not in (None, 0, old_pid):
            print(
                f"{name} running again (pid {info['pid']}) {time.monotonic() - started:.1f} s later"
            )
            return
        time.sleep(0.1)
    raise ShopctlError(f"{name} was not running again after {SECONDS_TO_COME_BACK} s")


def _hold(seconds: float, what: str) -> None:
    """Wait out the fault's time, saying so every few seconds; Ctrl-C ends it early."""
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 5))
            if deadline - time.monotonic() > 0.5:
                print(f"  {what}: {deadline - time.monotonic():.0f} s left (Ctrl-C ends it now)")
    except KeyboardInterrupt:
        print("  ended early (Ctrl-C)")


def _show_processes(run: RunningRun) -> None:
    print(f"\n{run.stage.name}'s processes now:")
    for name, info in run.states().items():
        print(f"  {name:<20} {info['statename']:<9} pid {info['pid'] or '-'}")
    active = sorted(path.stem for path in (run.var_dir / FAULTS_FOLDER).glob("*.json"))
    if active:
        print(f"faults in force: {', '.join(active)}")


def _one_name(arguments: list[str], action: str) -> str:
    if len(arguments) != 1:
        raise ShopctlError(f'{action} takes one process name: FAULT="{action} payments"')
    return arguments[0]


def _name_and_duration(arguments: list[str], action: str) -> tuple[str, float]:
    if len(arguments) not in (1, 2):
        raise ShopctlError(
            f'{action} takes a process and a duration: FAULT="{action} payments 20s"'
        )
    return arguments[0], _duration(arguments[1]) if len(arguments) == 2 else DEFAULT_SECONDS


def _duration(text: str, default_unit: str = "s") -> float:
    """'500ms', '20s', '2m' (a bare number in default_unit) -> seconds."""
    match = DURATION.match(text if not text.replace(".", "").isdigit() else text + default_unit)
    if not match:
        raise ShopctlError(f"{text!r} is not a duration; write e.g. 500ms, 20s or 2m")
    return float(match["number"]) * UNIT_SECONDS[match["unit"]]
