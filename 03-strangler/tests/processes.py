"""What a test needs to start one of the stage's processes beside it (a relay, the catalog
service): the stage folder, an environment whose Python path holds the generated gRPC
code, which pytest.ini puts on the tests' own path but a child process does not inherit,
the test database's URL, and `Process`, which runs one and reads its output."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

STAGE_DIR = Path(__file__).resolve().parents[1]
GENERATED_PROTOS = STAGE_DIR.parent / "proto" / "_generated"


def process_environment(**overrides: str) -> dict[str, str]:
    """This process's environment, the stage and the generated code on the path, plus overrides."""
    path = [str(STAGE_DIR), str(GENERATED_PROTOS), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(part for part in path if part),
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


def free_port() -> int:
    """A port nobody listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url_of_the_test_run() -> str:
    """DATABASE_URL of the test database this run created (the processes must see its rows)."""
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    return (
        f"postgres://{credentials}@{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"
    )


class Process:
    """A process of the stage running beside the test, e.g. `["manage.py", "relay_outbox"]`
    or `["-m", "catalog_service", "sync_catalog"]` (arguments of Python, run in the stage
    folder); its output goes to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        self._log_file = log.open("w")
        self.popen = subprocess.Popen(
            [sys.executable, *args],
            cwd=STAGE_DIR,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.popen.poll() is None, f"exited early:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} within {timeout} s:\n{self.output()}"
            time.sleep(0.05)

    def stop(self) -> float:
        """SIGTERM, as honcho sends it; return how long the process took to exit."""
        asked = time.monotonic()
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=10)
        finally:
            if self.popen.poll() is None:
                self.popen.kill()
            self._log_file.close()
        return time.monotonic() - asked
