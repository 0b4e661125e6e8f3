"""`shopctl doctor` (`make doctor`): is this machine ready for the course?

Each check prints one line, `ok` or `PROBLEM` with what to do about it, and the last line
says whether the machine is ready. Checks, cheapest first: the Python version, the packages
of requirements.lock, the generated gRPC code, the ports every stage listens on, a writable
var/, PostgreSQL and RabbitMQ when DATABASE_URL / BROKER_URL name them, and then every
stage started and asked for its readiness (skip that with --quick: it takes about 10 s a
stage). Run it before class; run it again after anything changed on the machine.
"""

import importlib.metadata
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from shopctl import ShopctlError, protos
from shopctl.env import (
    DEFAULT_PORT,
    VAR_DIR,
    ensure_database,
    isolated_environment,
    redact,
    tool_environment,
)
from shopctl.runner import free_port, port_is_free, started
from shopctl.stages import REPO_ROOT, Stage, all_stages

MINIMUM_PYTHON = (3, 11)
LOCK_FILE = REPO_ROOT / "requirements.lock"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.\-\[\],]+)==(?P<version>[^\s;#]+)")


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str


def python_version(version: tuple[int, int] = sys.version_info[:2]) -> Finding:
    found = f"{version[0]}.{version[1]}"
    if version >= MINIMUM_PYTHON:
        return Finding("python", True, f"Python {found}")
    return Finding(
        "python",
        False,
        f"Python {found} is too old: install Python 3.11 or newer, then "
        f"`make clean && rm -rf .venv && make doctor PYTHON=python3.11`",
    )


def pinned_packages(lock_text: str) -> dict[str, str]:
    """{distribution name: version} of every `name==version` line of a lock file."""
    pins = {}
    for line in lock_text.splitlines():
        match = PIN.match(line.strip())
        if match:
            name = match["name"].split("[")[0].lower()
            pins[name] = match["version"]
    return pins


def installed_packages(
    pins: dict[str, str], version_of: Callable[[str], str] = importlib.metadata.version
) -> Finding:
    wrong = []
    for name, version in sorted(pins.items()):
        try:
            installed = version_of(name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{name} missing")
            continue
        if installed != version:
            wrong.append(f"{name} {installed} (the lock says {version})")
    if not wrong:
        return Finding("packages", True, f"{len(pins)} packages as requirements.lock pins them")
    shown = ", ".join(wrong[:5]) + (f" and {len(wrong) - 5} more" if len(wrong) > 5 else "")
    return Finding(
        "packages",
        False,
        f"{shown}: run `rm -rf .venv && make doctor` to rebuild the environment from the lock",
    )


def generated_code() -> Finding:
    try:
        protos.generate()
    except ShopctlError as error:
        return Finding("protos", False, f"{error}: see `make protos`")
    return Finding("protos", True, f"gRPC code generated in {protos.GENERATED_DIR}")


def ports(
    stages: Iterable[Stage], base: int, is_free: Callable[[int], bool] = port_is_free
) -> Finding:
    """Every port any stage listens on, when it runs on `base` (SHOP_PORT)."""
    needed: dict[int, list[str]] = {}
    for stage in stages:
        for offset in stage.port_offsets():
            needed.setdefault(base + offset, []).append(stage.number)
    taken = [port for port in sorted(needed) if not is_free(port)]
    if not taken:
        listed = ", ".join(str(port) for port in sorted(needed))
        return Finding("ports", True, f"free: {listed}")
    named = ", ".join(f"{port} (stage {'/'.join(needed[port])})" for port in taken)
    return Finding(
        "ports",
        False,
        f"taken: {named}. A stage still running? Stop it (Ctrl-C in its terminal). Another "
        f"program? `ss -ltnp 'sport = :{taken[0]}'` names it. Or use another base port: "
        f"SHOP_PORT=9000 make run",
    )


def writable_var() -> Finding:
    try:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        probe = VAR_DIR / ".doctor"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        return Finding("var", False, f"cannot write in {VAR_DIR}: {error}")
    return Finding("var", True, f"{VAR_DIR} is writable")


def real_mode(env: dict[str, str]) -> list[Finding]:
    """PostgreSQL and RabbitMQ, only if the environment names them (embedded needs neither)."""
    findings = []
    if "DATABASE_URL" in env:
        try:
            ensure_database(env["DATABASE_URL"])
            findings.append(Finding("postgresql", True, redact(env["DATABASE_URL"])))
        except ShopctlError as error:
            findings.append(Finding("postgresql", False, f"{error}; or unset DATABASE_URL"))
    if "BROKER_URL" in env:
        from kombu import Connection

        try:
            with Connection(env["BROKER_URL"]) as broker:
                broker.ensure_connection(max_retries=1, timeout=3)
            findings.append(Finding("rabbitmq", True, redact(env["BROKER_URL"])))
        except Exception as error:  # any failure to connect is the finding
            findings.append(
                Finding(
                    "rabbitmq", False, f"{redact(env['BROKER_URL'])}: {error}; or unset BROKER_URL"
                )
            )
    return findings


def stage_starts(stage: Stage) -> Finding:
    """Start the stage on free ports, wait for its readiness, stop it."""
    var_dir = VAR_DIR / "doctor" / stage.name
    began = time.monotonic()
    try:
        env = isolated_environment(
            port=free_port(stage.port_offsets()),
            var_dir=var_dir,
            database=f"shop_{stage.number}_doctor",
        )
        with started(stage, env, log_path=var_dir / "processes.log"):
            pass  # started and ready is all this check asks; leaving the block stops it
    except ShopctlError as error:
        return Finding(
            stage.name, False, f"{error} (its processes' log: {var_dir / 'processes.log'})"
        )
    return Finding(stage.name, True, f"started and ready in {time.monotonic() - began:.0f} s")


def doctor(*, quick: bool = False) -> int:
    print("shopctl doctor: is this machine ready for the course?")
    env = tool_environment()
    stages = all_stages()
    base = int(os.environ.get("SHOP_PORT") or DEFAULT_PORT)
    lock = LOCK_FILE.read_text() if LOCK_FILE.is_file() else ""
    checks: list[Callable[[], Finding | list[Finding]]] = [
        python_version,
        lambda: installed_packages(pinned_packages(lock)),
        generated_code,
        lambda: ports(stages, base),
        writable_var,
        lambda: real_mode(env),
    ]
    if not quick:
        checks += [lambda stage=stage: stage_starts(stage) for stage in stages]
    findings: list[Finding] = []
    for check in checks:
        result = check()
        for finding in result if isinstance(result, list) else [result]:
            findings.append(finding)
            state = "ok" if finding.ok else "PROBLEM"
            print(f"  {finding.check:<22} {state:<8} {finding.detail}", flush=True)
    problems = [finding for finding in findings if not finding.ok]
    if problems:
        print(f"doctor: {len(problems)} problem(s); fix them and run `make doctor` again")
        return 1
    print("doctor: ready" + ("" if not quick else " (stages not started: --quick)"))
    return 0
