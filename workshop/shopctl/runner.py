"""Start a stage (release, then its processes under supervisord), wait until it answers, stop
it.

A stage's lifetime belongs to one object, `RunningStage`, used as a context manager by every
command that starts a stage: whatever ends the block (the command's work done, an error,
Ctrl-C, SIGTERM) at whatever moment (during the release, while waiting for readiness, while
printing the banner, while stopping), every process the run started is stopped on the way out.
"""

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

import httpx
import psutil  # comes with Locust; finds the processes a stage leaves behind

from shopctl import ShopctlError, supervisor
from shopctl.broker_proxy import PORT_OFFSET, BrokerProxy, proxied_url, upstream_of
from shopctl.stages import Stage

# Seconds from starting the processes to the first 200 of /api/health/ready/ (the release
# command, migrate and seed, runs before and is not counted). Slow machine? Raise it.
READY_TIMEOUT = float(os.environ.get("SHOPCTL_READY_TIMEOUT") or 60)
# supervisord gives each process STOP_WAIT_SECONDS after SIGTERM before it kills its group;
# this is on top of that.
STOP_GRACE = supervisor.STOP_WAIT_SECONDS + 5.0
# Every process of a run carries this variable, and so do the processes those start; it finds
# the ones that escaped supervisord (a process that made itself a new session, say, or the child of
# a release command cut short).
RUN_ID_VARIABLE = "SHOPCTL_RUN_ID"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# free_port draws from FIRST_PORT up to the start of the OS's ephemeral range.
FIRST_PORT = 20000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


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
    `Stage.port_offsets()`), drawn at random so that parallel runs do not collide.

    Drawn below the range the OS hands out to outgoing connections (ephemeral ports): a
    stage's ports taken from that range could be in use at any moment as the local end of
    some connection (the stage's own, to its broker or database), and a server that starts
    there would find its port taken."""
    low, high = FIRST_PORT, _first_ephemeral_port() - max(offsets) - 1
    for _ in range(200):
        port = random.randint(low, high)
        if all(port_is_free(port + n) for n in offsets):
            return port
    raise ShopctlError(f"found no free port p in {low}-{high} with p + {list(offsets)} free too")


def _first_ephemeral_port() -> int:
    """The lowest port of the OS's range for outgoing connections (Linux; elsewhere the
    IANA range's start, which macOS uses)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


def health(base_url: str) -> dict | None:
    """The JSON of GET /api/health/ (it names the stage), or None when nothing shop-like answers."""
    try:
        # trust_env=False: an HTTP_PROXY in the learner's shell must not intercept 127.0.0.1.
        response = httpx.get(f"{base_url}/api/health/", timeout=2, trust_env=False)
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


class RunningStage:
    """One run of a stage: its release, its processes, and how to stop every one of them.

        with RunningStage(stage, env) as running:   # nothing started yet
            running.start()                        # release, processes, wait until ready
            ...                                    # leaving the block stops them all

    Inside the block Ctrl-C and SIGTERM both raise KeyboardInterrupt, so a command has one
    path to handle; the few steps that must not be cut in half (starting a process and
    noting it, stopping them all) hold those signals until they are done.
    """

    def __init__(self, stage: Stage, env: dict[str, str], *, log_path: Path | None = None):
        self.stage = stage
        self.run_id = uuid.uuid4().hex
        self.env = {**env, RUN_ID_VARIABLE: self.run_id}
        # Real mode: the processes reach RabbitMQ through a proxy of the run's own, which
        # `make fault FAULT="broker 30s"` can cut without touching the broker others share.
        self.broker_proxy: BrokerProxy | None = None
        self._broker_proxy_started = False
        proxy_port = int(env["SHOP_PORT"]) + PORT_OFFSET
        through_proxy = (
            proxied_url(env["BROKER_URL"], proxy_port) if env.get("BROKER_URL") else None
        )
        if through_proxy:
            self.broker_proxy = BrokerProxy(
                proxy_port,
                upstream_of(env["BROKER_URL"]),
                Path(env["SHOP_VAR_DIR"]),
                say=self._say,
            )
            self.env["BROKER_URL"] = through_proxy
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{env['SHOP_PORT']}"
        self.files = supervisor.RunFiles.for_var_dir(Path(env["SHOP_VAR_DIR"]))
        self.supervisord: subprocess.Popen | None = None
        self._release: subprocess.Popen | None = None
        self._follower: supervisor.LogFollower | None = None
        self._log: TextIO | None = None
        self._seen: list[psutil.Process] = []
        self._previous_sigterm = None

    def __enter__(self) -> "RunningStage":
        if _in_main_thread():
            # SIGTERM (`kill`, `docker stop`, a CI runner's timeout) takes Ctrl-C's path.
            self._previous_sigterm = signal.signal(signal.SIGTERM, signal.default_int_handler)
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        if exc_type is KeyboardInterrupt:
            print(f"\nshopctl: stopping {self.stage.name}…", flush=True)
        try:
            self.stop()
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)

    def start(self) -> None:
        """Release, start the processes, wait until the stage answers."""
        self.release()
        self.launch()
        self.wait_ready()

    def release(self) -> None:
        """Run the stage's one-off `release:` command (migrate, seed) to completion."""
        self._start_broker_proxy()
        command = self.stage.release_command()
        if not command:
            return
        self._say(f"shopctl: release: {command}")
        with _signals_held():
            # Its own session, like the processes after it: on Ctrl-C `stop` ends the whole
            # command, the shell and what it started, rather than the shell alone.
            self._release = subprocess.Popen(
                command, shell=True, cwd=self.stage.path, env=self.env,
                stdin=subprocess.DEVNULL, start_new_session=True, **self._output(),
            )  # fmt: skip
        returncode = self._release.wait()
        if returncode != 0:
            raise ShopctlError(
                f"{self.stage.name}'s release command failed (exit code {returncode})"
            )

    def launch(self) -> None:
        """Start the stage's long-running processes under supervisord; do not wait for them."""
        self._start_broker_proxy()
        processes = self.stage.long_running()
        supervisor.write_config(self.stage, self.files)
        self._say(
            f"shopctl: starting {', '.join(processes)} under supervisord "
            f"(`supervisorctl -c {self.files.config} status`)"
        )
        output = self._output()
        self._follower = supervisor.LogFollower(
            self.files, processes, output.get("stdout") or sys.stdout
        )
        self._follower.start()
        with _signals_held():
            self.supervisord = subprocess.Popen(
                [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.files.config)],
                cwd=self.stage.path,
                env=self.env,
                stdin=subprocess.DEVNULL,
                # Its own process group: Ctrl-C in the terminal reaches only this tool, which
                # then stops supervisord, which stops every program, instead of every process
                # getting SIGINT at once.
                start_new_session=True,
                **output,
            )
        supervisord = self.supervisord
        supervisor.wait_for_socket(self.files, alive=lambda: supervisord.poll() is None)
        supervisor.write_state(
            self.files,
            pid=supervisord.pid,
            run_id=self.run_id,
            stage=self.stage.name,
            port=int(self.env["SHOP_PORT"]),
            real_broker="BROKER_URL" in self.env,
            broker_proxy=self.broker_proxy.port if self.broker_proxy else None,
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll /api/health/ready/ until it answers 200; raise if it does not in time."""
        supervisord = self._started()
        url = f"{self.base_url}/api/health/ready/"
        deadline = time.monotonic() + timeout
        last_answer = "no answer"
        with httpx.Client(timeout=2, trust_env=False) as client:
            while True:
                if supervisord.poll() is not None:
                    raise ShopctlError(
                        f"{self.stage.name} stopped before it was ready "
                        f"(supervisord exit code {supervisord.returncode})"
                    )
                failed = supervisor.gave_up(self.files.log)
                if failed:
                    logs = ", ".join(str(self.files.program_log(name)) for name in failed)
                    raise ShopctlError(
                        f"{', '.join(failed)} of {self.stage.name} kept exiting as it started; "
                        f"supervisord gave up (their output: {logs})"
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
        """Wait until supervisord ends by itself (it should not); return its exit code."""
        return self._started().wait()

    def stopped_by_itself(self) -> int | None:
        """supervisord's exit code if the stage stopped without being asked to, else None."""
        return self.supervisord.poll() if self.supervisord else None

    def deaths(self) -> dict[str, int]:
        """{process: times it ended without being asked to} since the start: supervisord
        restarted each of those."""
        return supervisor.deaths(self.files.log)

    def killed(self) -> list[str]:
        """The processes that ignored their SIGTERM (so far) and had to be killed."""
        return supervisor.killed(self.files.log)

    def stop(self) -> int:
        """Stop every process of the run; return how many outlived supervisord and had to be
        killed.

        Safe to call at any moment and more than once. Ctrl-C and SIGTERM wait until it is
        done; a second one only hurries it (no more waiting for a graceful exit).
        """
        with _signals_held() as received:
            if self._release and self._release.poll() is None:
                _signal_group(self._release.pid, signal.SIGTERM)
                _wait(self._release, 5, received)
            if self.supervisord and self.supervisord.poll() is None:
                self._remember_processes()
                # supervisord stops every program (SIGTERM, then SIGKILL to its group after
                # STOP_WAIT_SECONDS), then exits.
                self.supervisord.send_signal(signal.SIGTERM)
                _wait(self.supervisord, STOP_GRACE, received)
            if self._follower:
                self._follower.stop()
                self._follower = None
            self.files.state.unlink(missing_ok=True)
            if self.files.socket.parent != self.files.folder:  # the /tmp folder of a deep path
                shutil.rmtree(self.files.socket.parent, ignore_errors=True)
            leftovers = self._stop_leftovers()
            if self._broker_proxy_started:  # last: the processes said goodbye through it
                self.broker_proxy.stop()
                self._broker_proxy_started = False
            self._close_log()
        return leftovers

    def _start_broker_proxy(self) -> None:
        if self.broker_proxy and not self._broker_proxy_started:
            self.broker_proxy.start()
            self._broker_proxy_started = True

    def _started(self) -> subprocess.Popen:
        if self.supervisord is None:
            raise ShopctlError(f"{self.stage.name}'s processes were not started")
        return self.supervisord

    def _output(self) -> dict:
        """Where the processes write: the terminal, or the log file if the run has one."""
        if self.log_path is None:
            return {}
        if self._log is None:
            self._log = self.log_path.open("a")
        return {"stdout": self._log, "stderr": subprocess.STDOUT}

    def _say(self, line: str) -> None:
        output = self._output().get("stdout") or sys.stdout
        print(line, file=output, flush=True)

    def _close_log(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    def _remember_processes(self) -> None:
        """Note supervisord's descendants while the tree is intact: once it is gone, an
        orphan is the child of init and no longer shows up under it."""
        if self.supervisord is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            self._seen = psutil.Process(self.supervisord.pid).children(recursive=True)

    def _stop_leftovers(self) -> int:
        """Kill what outlived supervisord; return how many processes that was."""
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
        """The live processes of this run: supervisord and every program it started."""
        return [process for process in processes_of_run(self.run_id) if _alive(process)]

    def _leftovers(self) -> list[psutil.Process]:
        """The processes of this run still alive: seen under supervisord, or carrying the run
        id."""
        found = {process.pid: process for process in self._seen}
        found.update((process.pid, process) for process in processes_of_run(self.run_id))
        found.pop(os.getpid(), None)
        return [process for process in found.values() if _alive(process)]


@contextlib.contextmanager
def started(
    stage: Stage, env: dict[str, str], *, log_path: Path | None = None
) -> Iterator[RunningStage]:
    """The stage released, started and ready for the block; stopped when the block ends."""
    with RunningStage(stage, env, log_path=log_path) as running:
        running.start()
        yield running


def release(stage: Stage, env: dict[str, str], *, log_path: Path | None = None) -> None:
    """Only the stage's release command (migrate, seed), with the same care on Ctrl-C."""
    with RunningStage(stage, env, log_path=log_path) as running:
        running.release()


def processes_of_run(run_id: str) -> list[psutil.Process]:
    """Every process alive that carries this run's id in its environment."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(RUN_ID_VARIABLE) == run_id:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue  # gone meanwhile, a zombie, or not ours to read
    return found


@contextlib.contextmanager
def _signals_held() -> Iterator[list[int]]:
    """Hold Ctrl-C and SIGTERM until the block is done, then raise KeyboardInterrupt if one
    came: a process started and not yet noted, or a stop done by half, would leave processes
    behind. The block may read the list of signals received to hurry up."""
    received: list[int] = []
    if not _in_main_thread():  # only the main thread receives signals in Python
        yield received
        return
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    for number in STOP_SIGNALS:
        signal.signal(number, lambda number, frame: received.append(number))
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if received:
        raise KeyboardInterrupt


def _wait(process: subprocess.Popen, timeout: float, received: list[int]) -> None:
    """Wait for the process to end; kill its group after `timeout` s, or at once when a
    second Ctrl-C arrives meanwhile."""
    deadline = time.monotonic() + timeout
    already = len(received)
    while process.poll() is None:
        if time.monotonic() > deadline or len(received) > already:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
            return
        time.sleep(0.05)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _alive(process: psutil.Process) -> bool:
    """Running, and not a zombie: a zombie is dead, just not yet reaped by its parent."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal_group(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, number)
