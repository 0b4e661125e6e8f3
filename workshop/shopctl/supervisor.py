"""A stage's processes under supervisord: each Procfile line a program that is restarted on
its own when it dies, as docker-compose's `restart:` and a Kubernetes pod's restartPolicy do.

supervisord (the `supervisor` package) runs in the foreground as a child of shopctl, with a
configuration written for the run from the Procfile, its control socket and logs in the run's
folder (`<SHOP_VAR_DIR>/run/`). `supervisorctl -c <that folder>/supervisord.conf status` works
while the stage runs, and so does `make fault`, which finds the processes through it.
"""

import contextlib
import json
import re
import secrets
import shlex
import tempfile
import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from supervisor.xmlrpc import SupervisorTransport

from shopctl import ShopctlError
from shopctl.stages import Stage

# supervisorctl names a program `<group>:<name>`; one group, so that stopping the stage stops
# every program at once (supervisord stops group after group, a second or more each).
GROUP = "stage"
# A program that exits within START_SECONDS of being started failed to start: supervisord
# waits 1 s, then 2 s, 3 s … before each of START_RETRIES new tries, then gives up (FATAL).
# One that ran longer is restarted at once, however often it dies.
START_SECONDS = 1
START_RETRIES = 5
# SIGTERM, then SIGKILL to the program's process group after this many seconds.
STOP_WAIT_SECONDS = 10  # docker compose stop's default; a loaded machine needs it
# A unix socket's path must fit in sun_path (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100
# supervisord's own log says when a program ended without being asked to:
# "exited: payments (terminated by SIGKILL; not expected)".
EXITED = re.compile(r"\bexited: (?:\S+:)?(?P<name>\S+) \((?P<how>[^)]*)\)")
GAVE_UP = re.compile(r"\bgave up: (?:\S+:)?(?P<name>\S+) ")
KILLED = re.compile(r"\bkilling '(?:[^':]+:)?(?P<name>[^']+)' \(\d+\) with SIGKILL")
SUPERVISORD_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")
STATE_FILE = "supervisor.json"
USER = "shopctl"
# `NAME=value ` words before the program; a value may be an arithmetic expansion with spaces
# in it (`SHOP_METRICS_PORT=$((${SHOP_PORT:-8000} + 1))`).
LEADING_ASSIGNMENTS = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*=(?:\$\(\([^()]*\)\)|\S)*\s+)*")


@dataclass(frozen=True)
class RunFiles:
    """Where one run of a stage keeps its supervisord files, and the password of its socket."""

    folder: Path  # <SHOP_VAR_DIR>/run
    socket: Path
    # The socket is the owner's only (chmod 0700); the password is for supervisord, which
    # warns at CRIT level when its socket has none.
    password: str

    @classmethod
    def for_var_dir(cls, var_dir: Path) -> "RunFiles":
        folder = var_dir / "run"
        socket = folder / "supervisord.sock"
        if len(str(socket)) > MAX_SOCKET_PATH:  # a deep checkout: the socket goes to /tmp
            socket = Path(tempfile.mkdtemp(prefix="shopctl-")) / "supervisord.sock"
        return cls(folder, socket, secrets.token_urlsafe(16))

    @property
    def config(self) -> Path:
        return self.folder / "supervisord.conf"

    @property
    def log(self) -> Path:
        return self.folder / "supervisord.log"

    @property
    def state(self) -> Path:
        return self.folder / STATE_FILE

    def program_log(self, name: str) -> Path:
        return self.folder / "logs" / f"{name}.log"


def write_config(stage: Stage, files: RunFiles) -> None:
    """supervisord.conf for the stage's long-running processes, in Procfile order."""
    files.folder.mkdir(parents=True, exist_ok=True)
    (files.folder / "logs").mkdir(exist_ok=True)
    for old in (files.log, *(files.folder / "logs").glob("*.log")):
        old.unlink(missing_ok=True)  # a run's logs are its own: counting deaths reads them
    processes = {name: stage.processes()[name] for name in stage.long_running()}
    sections = [
        _section(
            "supervisord",
            nodaemon="true",
            silent="true",  # its log goes to the file; shopctl shows it, prefixed
            logfile=files.log,
            logfile_maxbytes=0,
            pidfile=files.folder / "supervisord.pid",
            childlogdir=files.folder / "logs",
        ),
        _section(
            "unix_http_server",
            file=files.socket,
            chmod="0700",
            username=USER,
            password=files.password,
        ),
        _section(
            "rpcinterface:supervisor",
            **{"supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"},
        ),
        _section(
            "supervisorctl",
            serverurl=f"unix://{files.socket}",
            username=USER,
            password=files.password,
        ),
        _section(f"group:{GROUP}", programs=",".join(processes)),
    ]
    for name, command in processes.items():
        line = _checked(name, command)
        sections.append(
            _section(
                f"program:{name}",
                # A shell, as honcho and compose run a Procfile line ($((…)), VAR=value cmd).
                command=shlex.join(["/bin/sh", "-c", _exec(line)]),
                directory=stage.path,
                autostart="true",
                autorestart="true",
                startsecs=START_SECONDS,
                startretries=START_RETRIES,
                stopsignal="TERM",
                stopwaitsecs=STOP_WAIT_SECONDS,
                # Each program is its own process group. The SIGTERM goes to the program
                # alone: gunicorn's master and Celery's prefork parent stop their own children,
                # each after its request or task. Sent to the group, it reached Celery's pool
                # children too, which could die holding the pool's queue lock and leave the
                # parent stuck until the SIGKILL (stage 01's worker, 2 stops in 4). A line that
                # keeps its shell gets it as a group, since the shell would not pass it on.
                # The SIGKILL after STOP_WAIT_SECONDS goes to the group: nothing outlives it.
                stopasgroup="true" if _keeps_shell(line) else "false",
                killasgroup="true",
                redirect_stderr="true",
                stdout_logfile=files.program_log(name),
                stdout_logfile_maxbytes=0,
            )
        )
    files.config.write_text("\n".join(sections))


def _section(title: str, **options) -> str:
    lines = [f"[{title}]"]
    # supervisord expands %(name)s in its values: a literal % is written %%.
    lines += [f"{key}={str(value).replace('%', '%%')}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def _checked(name: str, command: str) -> str:
    # supervisord reads " ;" and " #" as the start of a comment, even inside a value.
    if re.search(r"\s[;#]", command):
        raise ShopctlError(
            f"the Procfile line {name!r} has ' ;' or ' #' in it, which supervisord would "
            "read as a comment: write it as a script, or without the space"
        )
    return command


def _keeps_shell(command: str) -> bool:
    """A line of several commands (`a && b`, `a; b`, `a | b`): no one program to exec."""
    return re.search(r"[;&|]", command) is not None


def _exec(command: str) -> str:
    """The line with the shell replaced by the program it starts (`exec`), so that the pid
    supervisord knows, signals and reports on is the program's own; a line of several
    commands (`a && b`) keeps its shell."""
    if _keeps_shell(command):
        return command
    assignments = LEADING_ASSIGNMENTS.match(command).group()  # `SHOP_PORT=… python -m proxy`
    return f"{assignments}exec {command[len(assignments) :]}"


def connect(socket: Path, password: str) -> xmlrpc.client.ServerProxy:
    """An XML-RPC client of the supervisord listening on this socket."""
    transport = SupervisorTransport(USER, password, f"unix://{socket}")
    # The host is ignored: the transport talks to the socket.
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def program_states(socket: Path, password: str) -> dict[str, dict]:
    """{name: supervisord's process info (statename, pid, spawnerr, …)} of every program."""
    try:
        infos = connect(socket, password).supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Error) as error:
        raise ShopctlError(f"supervisord does not answer on {socket}: {error}") from error
    return {info["name"]: info for info in infos}


def deaths(log: Path) -> dict[str, int]:
    """How many times each program ended without being asked to, from supervisord's log."""
    counts: dict[str, int] = {}
    if log.is_file():
        for match in EXITED.finditer(log.read_text(errors="replace")):
            counts[match["name"]] = counts.get(match["name"], 0) + 1
    return counts


def killed(log: Path) -> list[str]:
    """The programs that did not stop within STOP_WAIT_SECONDS of their SIGTERM: supervisord
    killed them (a task or request cut short, or a process stuck on its way out)."""
    if not log.is_file():
        return []
    return [match["name"] for match in KILLED.finditer(log.read_text(errors="replace"))]


def gave_up(log: Path) -> list[str]:
    """The programs supervisord stopped restarting (they kept failing to start)."""
    if not log.is_file():
        return []
    return [match["name"] for match in GAVE_UP.finditer(log.read_text(errors="replace"))]


def write_state(files: RunFiles, **state) -> None:
    """What `make fault` needs to find this run: its socket, supervisord's pid, the run id."""
    files.state.write_text(
        json.dumps({"socket": str(files.socket), "password": files.password, **state}, indent=2)
    )


def read_state(var_dir: Path) -> dict | None:
    path = var_dir / "run" / STATE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class LogFollower:
    """Shows the programs' output as honcho did, one stream, each line prefixed by the name of
    its program (`12:00:01 payments     | …`), and supervisord's own news (`exited:`,
    `spawned:`) under `supervisor`; on the terminal or into the run's log file."""

    def __init__(self, files: RunFiles, names: list[str], output: TextIO):
        self._sources = {name: files.program_log(name) for name in names}
        self._sources["supervisor"] = files.log
        self._width = max(len(name) for name in self._sources)
        self._output = output
        self._offsets = dict.fromkeys(self._sources, 0)
        self._partial = dict.fromkeys(self._sources, "")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="log-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Show what is left to show, then stop following."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._read_all()

    def _follow(self) -> None:
        while not self._stop.wait(0.2):
            self._read_all()

    def _read_all(self) -> None:
        # ValueError: the run's log file was closed meanwhile; the run is over.
        with contextlib.suppress(ValueError):
            for name, path in self._sources.items():
                for line in self._new_lines(name, path):
                    stamp = datetime.now().strftime("%H:%M:%S")
                    print(f"{stamp} {name.ljust(self._width)} | {line}", file=self._output)
            self._output.flush()

    def _new_lines(self, name: str, path: Path) -> Iterator[str]:
        try:
            with path.open("rb") as source:
                source.seek(self._offsets[name])
                data = source.read()
        except FileNotFoundError:
            return
        self._offsets[name] += len(data)
        text = self._partial[name] + data.decode(errors="replace")
        *lines, self._partial[name] = text.split("\n")
        for line in lines:
            yield SUPERVISORD_TIME.sub("", line)  # it stamps its lines; the prefix does too


def wait_for_socket(files: RunFiles, alive, timeout: float = 10) -> None:
    """Wait until supervisord answers on its socket (it has read its config and started)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            connect(files.socket, files.password).supervisor.getState()
            return
        except (OSError, xmlrpc.client.Error):
            if not alive():
                raise ShopctlError("supervisord stopped as it started (see its log)") from None
            if time.monotonic() > deadline:
                raise ShopctlError(
                    f"supervisord did not answer on {files.socket} in {timeout} s"
                ) from None
            time.sleep(0.1)
