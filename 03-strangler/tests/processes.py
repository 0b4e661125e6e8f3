"""What a test needs to start one of the stage's processes beside it (a relay, the catalog
service): the stage folder, and an environment whose Python path holds the generated gRPC
code, which pytest.ini puts on the tests' own path but a child process does not inherit."""

import os
import socket
from pathlib import Path

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
