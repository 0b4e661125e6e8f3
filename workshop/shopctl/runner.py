"""Start a stage (release, then its processes under honcho), wait until it answers, stop it."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import httpx
import psutil  # comes with Locust; finds the processes a stage leaves behind

from shopctl import ShopctlError
from shopctl.stages import Stage

# Seconds from starting the processes to the first 200 of /api/health/ready/ (the release
# command, migrate and seed, runs before and is not counted). Slow machine? Raise it.
READY_TIMEOUT = float(os.environ.get("SHOPCTL_READY_TIMEOUT") or 60)
# honcho gives its processes 5 s after SIGTERM before it kills them; this is on top of that.
STOP_GRACE = 10.0
# Every process of a run carries this variable, and so do the processes those start; it finds
# the ones that escaped honcho (a process that made itself a new session, say).
RUN_ID_VARIABLE = "SHOPCTL_RUN_ID"


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:port can be listened on (SO_REUSEADDR, as the web servers use)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(offsets: Sequence[int] = (0,)) -> int:
    """A port nobody listens on now, nor on port + each offset (a stage's other processes:
    `Stage.port_offsets()`); the OS picks it, so parallel runs do not collide."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + max(offsets) <= 65535 and all(port_is_free(port + n) for n in offsets):
            return port
    raise ShopctlError(f"found no free port p with p + {list(offsets)} free too")


def health(base_url: str) -> dict | None:
    """The JSON of GET /api/health/ (it names the stage), or None when nothing shop-like answers."""
    try:
        # trust_env=False: an HTTP_PROXY in the learner's shell must not intercept 127.0.0.1.
        response = httpx.get(f"{base_url}/api/health/", timeout=2, trust_env=False)
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


class RunningStage:
    """The processes of one started stage, and how to stop every one of them."""

    def __init__(
        self,
        stage: Stage,
        env: dict[str, str],
        honcho: subprocess.Popen,
        run_id: str,
        log: TextIO | None,
    ):
        self.stage = stage
        self.env = env
        self.honcho = honcho
        self.run_id = run_id
        self.log = log
        self.base_url = f"http://127.0.0.1:{env['SHOP_PORT']}"
        self._seen: list[psutil.Process] = []

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll /api/health/ready/ until it answers 200; raise if it does not in time."""
        url = f"{self.base_url}/api/health/ready/"
        deadline = time.monotonic() + timeout
        last_answer = "no answer"
        with httpx.Client(timeout=2, trust_env=False) as client:
            while True:
                if self.honcho.poll() is not None:
                    raise ShopctlError(
                        f"{self.stage.name} stopped before it was ready "
                        f"(honcho exit code {self.honcho.returncode})"
                    )
                try:
                    response = client.get(url)
                    if response.status_code == 200:
                        break
                    last_answer = f"HTTP {response.status_code}"
                except httpx.HTTPError as error:
                    last_answer = type(error).__name__
                if time.monotonic() > deadline:
                    raise ShopctlError(
                        f"{self.stage.name} was not ready after {timeout:.0f} s "
                        f"(GET {url}: {last_answer})"
                    )
                time.sleep(0.5)
        self._remember_processes()

    def wait(self) -> int:
        """Wait until honcho ends by itself (a process died); return its exit code."""
        returncode = self.honcho.wait()
        self._stop_leftovers()
        _close(self.log)
        return returncode

    def stop(self) -> int:
        """Stop every process of the stage; return how many outlived honcho and were killed."""
        if self.honcho.poll() is None:
            self._remember_processes()
            # honcho passes SIGTERM on to each process's group, and kills them after 5 s.
            self.honcho.send_signal(signal.SIGTERM)
            try:
                self.honcho.wait(STOP_GRACE)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                # Stuck, or a second Ctrl-C: no more waiting.
                _kill_group(self.honcho.pid)
                self.honcho.wait()
        leftovers = self._stop_leftovers()
        _close(self.log)
        return leftovers

    def _remember_processes(self) -> None:
        """Note honcho's descendants while the tree is intact: once honcho is gone, an orphan
        is the child of init and no longer shows up under it."""
        with contextlib.suppress(psutil.NoSuchProcess):
            self._seen = psutil.Process(self.honcho.pid).children(recursive=True)

    def _stop_leftovers(self) -> int:
        """Kill what outlived honcho; return how many processes that was."""
        leftovers = self._leftovers()
        # Processes signalled a moment ago may still be on their way out: give them a moment.
        deadline = time.monotonic() + 2
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.1)
            leftovers = [process for process in leftovers if _alive(process)]
        if not leftovers:
            return 0
        pids = " ".join(str(process.pid) for process in leftovers)
        print(f"shopctl: stopping {len(leftovers)} process(es) left behind: {pids}")
        for process in leftovers:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.terminate()
        _, alive = psutil.wait_procs(leftovers, timeout=3)
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        return len(leftovers)

    def processes(self) -> list[psutil.Process]:
        """The live processes of this run: every one carrying the run id (not this tool)."""
        found = []
        for process in psutil.process_iter():
            try:
                if process.pid != os.getpid() and (
                    process.environ().get(RUN_ID_VARIABLE) == self.run_id
                ):
                    found.append(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue  # gone meanwhile, a zombie, or not ours to read
        return [process for process in found if _alive(process)]

    def _leftovers(self) -> list[psutil.Process]:
        """The processes of this run still alive: seen under honcho, or carrying the run id."""
        found = {process.pid: process for process in self._seen if _alive(process)}
        found.update((process.pid, process) for process in self.processes())
        found.pop(os.getpid(), None)
        return list(found.values())


def release(stage: Stage, env: dict[str, str], *, log: TextIO | None = None) -> None:
    """Run the stage's one-off `release:` command (migrate, seed) to completion."""
    command = stage.release_command()
    if not command:
        return
    redirect = {"stdout": log, "stderr": subprocess.STDOUT} if log else {}
    _say(log, f"shopctl: release: {command}")
    result = subprocess.run(command, shell=True, cwd=stage.path, env=env, **redirect)
    if result.returncode != 0:
        raise ShopctlError(f"{stage.name}'s release command failed (exit code {result.returncode})")


def launch(stage: Stage, env: dict[str, str], *, log_path: Path | None = None) -> RunningStage:
    """Run the stage's release command, then start its processes with honcho; do not wait.

    Their output goes to the terminal, or to log_path if given.
    """
    run_id = uuid.uuid4().hex
    env = {**env, RUN_ID_VARIABLE: run_id}
    log = log_path.open("a") if log_path else None
    redirect = {"stdout": log, "stderr": subprocess.STDOUT} if log else {}
    try:
        release(stage, env, log=log)
    except ShopctlError:
        _close(log)
        raise

    processes = stage.long_running()
    _say(log, f"shopctl: starting {', '.join(processes)} with honcho")
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "start", "-f", "Procfile", *processes],
        cwd=stage.path,
        env=env,
        stdin=subprocess.DEVNULL,
        # Its own process group: Ctrl-C in the terminal reaches only this tool, which then
        # stops honcho in order, instead of every process getting SIGINT at once.
        start_new_session=True,
        **redirect,
    )
    return RunningStage(stage, env, honcho, run_id, log)


def start(stage: Stage, env: dict[str, str], *, log_path: Path | None = None) -> RunningStage:
    """Launch the stage and wait until it is ready. If it never is, or on Ctrl-C, whatever
    was started is stopped before the exception goes on."""
    running = launch(stage, env, log_path=log_path)
    try:
        running.wait_ready()
    except BaseException:
        running.stop()
        raise
    return running


def _say(log: TextIO | None, line: str) -> None:
    print(line, file=log or sys.stdout)


def _close(log: TextIO | None) -> None:
    if log:
        log.close()


def _alive(process: psutil.Process) -> bool:
    """Running, and not a zombie: a zombie is dead, just not yet reaped by its parent."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
