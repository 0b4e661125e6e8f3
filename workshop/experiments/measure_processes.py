"""Memory and CPU of each process of a running stage: the figures a pod's requests and limits
are set from (chapter 5, deploy/k8s/).

With a stage running (`SHOP_PORT=8000 make run STAGE=04`, any mode):

    .venv/bin/python workshop/experiments/measure_processes.py --seconds 20    # idle
    make load HOST=http://127.0.0.1:8000 STAGE=04 USERS=60 DURATION=45s &      # then loaded:
    .venv/bin/python workshop/experiments/measure_processes.py --seconds 30

It finds the stage's honcho (the one whose SHOP_PORT is this shell's, default 8000), maps each
of its processes to its Procfile line (honcho forks once per line, and the fork starts the line
as `/bin/sh -c <line>`), and samples each line's whole tree once a second, honcho's fork
included: in a container, docker/entrypoint.sh runs the same honcho, fork, shell and process,
and a gunicorn master and its workers are one pod.

- memory: PSS summed over the tree, its mean and peak. PSS splits a page shared by N
  processes into N parts, so the sum over a pod's processes is close to what the container's
  cgroup is charged; the RSS column, for comparison, counts gunicorn's copy-on-write pages
  once per worker.
- CPU: the tree's CPU seconds over the window, divided by the window: cores used on average.
"""

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # comes with Locust

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # workshop/, for shopctl
from shopctl.stages import all_stages  # noqa: E402

PORT = int(os.environ.get("SHOP_PORT") or 8000)


@dataclass
class Line:
    """One Procfile process of the running stage, and what was seen of it."""

    name: str
    root: psutil.Process  # honcho's fork that runs this line
    peak_pss: int = 0
    peak_rss: int = 0
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    pss_samples: list[int] = field(default_factory=list)

    def tree(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for process in self.tree():
            try:
                times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += times.user + times.system
        return total

    def sample(self) -> None:
        pss = rss = 0
        for process in self.tree():
            try:
                memory = process.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            pss, rss = pss + memory.pss, rss + memory.rss
        self.pss_samples.append(pss)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_rss = max(self.peak_rss, rss)


def running_stage_lines() -> tuple[str, list[Line]]:
    """The stage honcho runs on PORT, and one Line per Procfile process it started."""
    commands = {
        command: (stage.name, name)
        for stage in all_stages()
        for name, command in stage.processes().items()
    }
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            command = process.info["cmdline"] or []
            honcho = "honcho" in command[:3] or any(
                Path(word).name == "honcho" for word in command[:2]
            )
            parent = process.parent()
            if not honcho or (parent and "honcho" in " ".join(parent.cmdline()[:3])):
                continue  # not honcho, or one of its forks rather than honcho itself
            if int(process.environ().get("SHOP_PORT") or 8000) != PORT:
                continue
            lines, stage_name = [], None
            for fork in process.children():
                for shell in fork.children():
                    words = shell.cmdline()
                    if len(words) == 3 and words[1] == "-c" and words[2] in commands:
                        stage_name, name = commands[words[2]]
                        lines.append(Line(name=name, root=fork))
            if lines:
                return stage_name, lines
        except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
            continue
    sys.exit(f"no stage runs with SHOP_PORT={PORT}: start one (SHOP_PORT={PORT} make run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="how long to sample (20)")
    seconds = parser.parse_args().seconds
    stage, lines = running_stage_lines()
    for line in lines:
        line.cpu_start = line.cpu_seconds()
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        for line in lines:
            line.sample()
        time.sleep(1)
    elapsed = time.monotonic() - started
    for line in lines:
        line.cpu_end = line.cpu_seconds()
    print(f"{stage} on port {PORT}, {elapsed:.0f} s, {len(lines[0].pss_samples)} samples")
    print(
        f"{'process':<20} {'PSS MiB mean':>13} {'PSS MiB peak':>13} {'RSS MiB peak':>13} "
        f"{'CPU cores':>10}"
    )
    for line in sorted(lines, key=lambda line: line.name):
        mean = sum(line.pss_samples) / max(len(line.pss_samples), 1)
        cores = (line.cpu_end - line.cpu_start) / elapsed
        print(
            f"{line.name:<20} {mean / 2**20:>13.0f} {line.peak_pss / 2**20:>13.0f} "
            f"{line.peak_rss / 2**20:>13.0f} {cores:>10.2f}"
        )


if __name__ == "__main__":
    main()
