"""Find the stage folders (01-monolith, 02-…) and read their Procfiles."""

import os
import re
from dataclasses import dataclass
from pathlib import Path

from shopctl import ShopctlError

# workshop/shopctl/stages.py -> the repository root. SHOPCTL_REPO_ROOT points the tool at
# another tree, which is how the tool itself is tested against a fake stage.
REPO_ROOT = Path(os.environ.get("SHOPCTL_REPO_ROOT") or Path(__file__).resolve().parents[2])

STAGE_FOLDER = re.compile(r"^(?P<number>\d\d)-[a-z0-9-]+$")
# The same rule honcho uses for a Procfile line: `name: command`.
PROCFILE_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_-]+):\s*(?P<command>.+)$")
RELEASE = "release"
PROXY = "proxy"
# How a Procfile puts a process on a port of its own: `$((${SHOP_PORT:-8000} + 10))`.
PUBLIC_PORT = re.compile(r"\$\{SHOP_PORT:-\d+\}(?!\s*\+)")
PORT_OFFSET = re.compile(r"\$\(\(\s*\$\{SHOP_PORT:-\d+\}\s*\+\s*(?P<offset>\d+)\s*\)\)")
# A process that serves no HTTP of its own (a worker, a gRPC server) serves its Prometheus
# metrics on a port of their own: `SHOP_METRICS_PORT=$((${SHOP_PORT:-8000} + 3)) python -m …`.
# An HTTP process serves them on its own port, at /metrics.
METRICS_PORT = re.compile(r"SHOP_METRICS_PORT=" + PORT_OFFSET.pattern)
# In real mode shopctl puts a proxy of its own between the stage and RabbitMQ, on the last of
# the 40 ports a stage may use (shopctl/broker_proxy.py).
BROKER_PROXY_OFFSET = 39


@dataclass(frozen=True)
class Stage:
    name: str  # the folder name, e.g. "01-monolith"; /api/health/ reports the same
    number: str  # "01"
    path: Path

    @property
    def procfile(self) -> Path:
        return self.path / "Procfile"

    @property
    def locustfile(self) -> Path:
        return self.path / "locustfile.py"

    def processes(self) -> dict[str, str]:
        """The Procfile as {name: command}, in file order, `release` included."""
        if not self.procfile.is_file():
            raise ShopctlError(f"{self.name} has no Procfile ({self.procfile})")
        processes = {}
        for line in self.procfile.read_text().splitlines():
            match = PROCFILE_LINE.match(line.strip())
            if match:
                processes[match["name"]] = match["command"]
        if not set(processes) - {RELEASE}:
            raise ShopctlError(f"{self.procfile} names no process to start")
        return processes

    def process_ports(self) -> dict[str, int | None]:
        """Each long-running process and the offset from SHOP_PORT it listens on, as its
        Procfile line says (`${SHOP_PORT:-8000}`: 0, `$((${SHOP_PORT:-8000} + 22))`: 22), or
        None when the line names no port (a worker, or a process that reads SHOP_PORT itself)."""
        ports: dict[str, int | None] = {}
        processes = self.processes()  # the Procfile, read once
        for name, command in processes.items():
            if name == RELEASE:
                continue
            command = METRICS_PORT.sub("", command)  # the metrics' port is not the process's
            match = PORT_OFFSET.search(command)
            if match:
                ports[name] = int(match["offset"])
            else:
                ports[name] = 0 if PUBLIC_PORT.search(command) else None
        return ports

    def metrics_ports(self) -> dict[str, int | None]:
        """Each long-running process and the offset of the port where Prometheus finds its
        metrics: its SHOP_METRICS_PORT, else its own (HTTP) port, else None."""
        ports = self.process_ports()
        for name, command in self.processes().items():
            match = METRICS_PORT.search(command)
            if match:
                ports[name] = int(match["offset"])
        return ports

    def port_offsets(self) -> list[int]:
        """The ports the stage listens on, as offsets from SHOP_PORT: 0 (the public port),
        every `$((${SHOP_PORT:-8000} + N))` of its Procfile (stage 03: its monolith on +10,
        the catalog service on +20 and +21), and in real mode shopctl's broker proxy on +39
        (checked in either mode: a port that is free only sometimes helps nobody)."""
        offsets = {0, BROKER_PROXY_OFFSET}
        for command in self.processes().values():
            offsets.update(int(match["offset"]) for match in PORT_OFFSET.finditer(command))
        return sorted(offsets)

    def test_folders(self) -> list[Path]:
        """Where `pytest` runs: the stage folder, then every folder in it with a pytest.ini
        of its own (a service that is a separate Django project, from stage 03 on)."""
        folders = [self.path] if (self.path / "pytest.ini").is_file() else []
        return folders + sorted(ini.parent for ini in self.path.glob("*/pytest.ini"))

    def release_command(self) -> str | None:
        """The one-off `release:` command (migrate, seed), run to completion before the rest."""
        return self.processes().get(RELEASE)

    def long_running(self) -> list[str]:
        """The names of the processes started after the release and kept running."""
        return [name for name in self.processes() if name != RELEASE]

    def has_proxy(self) -> bool:
        """Whether a strangler proxy (stage 03's `proxy:` process) fronts the stage."""
        return PROXY in self.processes()


def all_stages() -> list[Stage]:
    """Every stage folder present in the repository, in order."""
    stages = []
    for path in sorted(REPO_ROOT.iterdir()):
        match = STAGE_FOLDER.match(path.name)
        if match and path.is_dir():
            stages.append(Stage(name=path.name, number=match["number"], path=path))
    return stages


def find_stage(wanted: str) -> Stage:
    """The stage named by its number ("01", "1") or its folder name ("01-monolith")."""
    stages = all_stages()
    for stage in stages:
        if wanted == stage.name or (wanted.isdigit() and int(wanted) == int(stage.number)):
            return stage
    available = ", ".join(f"{stage.number} ({stage.name})" for stage in stages) or "none yet"
    raise ShopctlError(f"no stage {wanted!r} in {REPO_ROOT}; available: {available}")
