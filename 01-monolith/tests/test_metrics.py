"""The monolith's metrics: requests by route and status at the web's /metrics, added up
across gunicorn's workers; tasks by name and outcome at the Celery worker's metrics port,
added up across its pool processes (prometheus-client's multiprocess mode, both)."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

from prometheus_client import REGISTRY

STAGE_DIR = Path(__file__).resolve().parents[1]
PROCFILE = STAGE_DIR / "Procfile"
OFFSETS = (0, 1)  # the ports the Procfile's processes take, from SHOP_PORT
# gunicorn and celery, as honcho finds them: in the environment's bin folder.
VENV_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def requests(route: str, status: str) -> float:
    labels = {"method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("shop_http_requests_total", labels) or 0.0


def test_each_request_is_counted_by_its_route_not_its_path(api_client, make_product):
    route = "api/products/<id:product_id>/"
    found_before, missing_before = requests(route, "200"), requests(route, "404")
    unmatched_before = requests("unmatched", "404")
    product = make_product()

    api_client.get(f"/api/products/{product.id}/")
    api_client.get(f"/api/products/{product.id}/")
    api_client.get("/api/products/999999/")
    api_client.get("/no/such/page/")

    assert requests(route, "200") == found_before + 2
    assert requests(route, "404") == missing_before + 1
    assert requests("unmatched", "404") == unmatched_before + 1


def test_the_metrics_page_shows_the_series_after_a_request(api_client):
    api_client.get("/api/health/")

    response = api_client.get("/metrics")

    assert response.status_code == 200
    text = response.content.decode()
    assert re.search(
        r'^shop_http_requests_total\{method="GET",route="api/health/",status="200"\} [1-9]',
        text,
        re.M,
    )
    assert "shop_http_request_duration_seconds_bucket{" in text


# ---- The processes of the Procfile ---------------------------------------------------------


HEALTH_COUNT = re.compile(
    r'^shop_http_requests_total\{method="GET",route="api/health/",status="200"\} (\S+)$', re.M
)


def health_requests(text: str) -> float:
    """How many GET /api/health/ a /metrics answer counts (0 before the first)."""
    found = HEALTH_COUNT.search(text)
    return float(found[1]) if found else 0.0


def until_both_workers_count(base: str, folder: Path) -> None:
    """Send requests until each of the two workers has counted one: a file each (named after
    its pid). The first answer proves only one worker up; the other may still be starting."""
    deadline = time.monotonic() + 60
    while len(list(folder.glob("counter_*.db"))) < 2:
        assert time.monotonic() < deadline, f"not a file per worker in {folder} after 60 s"
        with ThreadPoolExecutor(max_workers=8) as clients:
            list(clients.map(lambda _: get(f"{base}/api/health/"), range(8)))


def free_port() -> int:
    """A SHOP_PORT whose offsets in the Procfile are all free now (the metrics ports too)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + max(OFFSETS) < 65536 and all(is_free(base + offset) for offset in OFFSETS):
            return base


def is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def wait_for(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60  # a loaded machine starts Django slowly
    while True:
        try:
            get(url)
            return
        except OSError:  # not listening yet
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"{url} did not answer in 60 s:\n{log.read_text()}"
            time.sleep(0.2)


@contextmanager
def procfile_process(name: str, var_dir: Path, **env: str) -> Iterator[subprocess.Popen]:
    """The Procfile's line `name`, run by a shell as honcho runs it, in a var dir of its own."""
    command = next(
        line.split(":", 1)[1]
        for line in PROCFILE.read_text().splitlines()
        if line.startswith(f"{name}:")
    )
    log_path = var_dir / f"{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            ["sh", "-c", command.strip()],
            cwd=STAGE_DIR,
            env={**os.environ, "PATH": VENV_PATH, "SHOP_VAR_DIR": str(var_dir), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )
        try:
            yield process
        finally:
            with suppress(ProcessLookupError):  # it may have ended by itself
                os.killpg(process.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            # The shell may be gone while the program it started is still shutting down (a
            # Celery worker's warm shutdown can hang): nothing of the group may outlive the test.
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_the_web_process_adds_up_every_gunicorn_workers_requests(tmp_path):
    port = free_port()
    with procfile_process("web", tmp_path, SHOP_PORT=str(port), SHOP_WEB_WORKERS="2") as web:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/api/health/", web, tmp_path / "web.log")
        until_both_workers_count(base, tmp_path / "metrics" / f"gunicorn-{port}")
        before = health_requests(get(f"{base}/metrics"))
        with ThreadPoolExecutor(max_workers=8) as clients:  # both sync workers get some
            list(clients.map(lambda _: get(f"{base}/api/health/"), range(40)))

        text = get(f"{base}/metrics")

    # Whichever worker answers /metrics, it adds up both workers' counts: without
    # multiprocess mode there would be no files, and each worker would answer its own.
    assert health_requests(text) == before + 40, text


def test_the_worker_adds_up_the_tasks_of_its_pool_processes(tmp_path):
    shop_port = free_port()
    env = {
        "SHOP_PORT": str(shop_port),
        "SHOP_BROKER_NAMESPACE": f"metrics-{uuid.uuid4().hex}",
        # A database of the test's own in either mode (the tasks read it): never the shop's.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'metrics.sqlite3'}",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=STAGE_DIR, env={**os.environ, "SHOP_VAR_DIR": str(tmp_path), **env}, check=True,
    )  # fmt: skip
    with procfile_process("worker", tmp_path, **env) as worker:
        metrics_url = f"http://127.0.0.1:{shop_port + 1}/metrics"
        wait_for(metrics_url, worker, tmp_path / "worker.log")
        subprocess.run(
            [
                sys.executable, "-c",
                "import django; django.setup()\n"
                "from shop.tasks import send_order_confirmation as task\n"
                "for _ in range(6): task.delay('00000000-0000-0000-0000-000000000001')",
            ],
            cwd=STAGE_DIR, check=True,
            env={**os.environ, "SHOP_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE":
                 "config.settings", **env},
        )  # fmt: skip
        pattern = re.compile(
            r'^shop_celery_tasks_total\{state="SUCCESS",task="shop.tasks.send_order_confirmation"\}'
            r" (\S+)$",
            re.M,
        )
        deadline = time.monotonic() + 30
        while not ((found := pattern.search(get(metrics_url))) and float(found[1]) == 6.0):
            assert time.monotonic() < deadline, get(metrics_url)
            time.sleep(0.3)
        text = get(metrics_url)

    assert 'shop_broker_queue_messages{queue="' in text
    assert len(list((tmp_path / "metrics" / "worker").glob("counter_*.db"))) >= 1
