"""The gateway's /metrics: requests by method, route and status, and their latency; under
gunicorn with several workers, every worker's requests in one answer (multiprocess mode)."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from chassis.errors import NotFound
from prometheus_client import REGISTRY

from .messages import a_product

STAGE_DIR = Path(__file__).resolve().parents[2]
GENERATED_PROTOS = STAGE_DIR.parent / "proto" / "_generated"


def requests(route: str, status: str, method: str = "GET") -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("shop_http_requests_total", labels) or 0.0


def test_each_request_is_counted_by_its_route_not_its_path(api_client, services):
    route = "api/products/<id:product_id>/"
    found_before, missing_before = requests(route, "200"), requests(route, "404")
    unmatched_before = requests("unmatched", "404")
    services.catalog.answer("GetProduct", a_product(id=1))

    api_client.get("/api/products/1/")
    api_client.get("/api/products/2/")
    services.catalog.answer("GetProduct", NotFound("No product with id 3."))
    api_client.get("/api/products/3/")
    api_client.get("/no/such/page/")

    assert requests(route, "200") == found_before + 2
    assert requests(route, "404") == missing_before + 1
    assert requests("unmatched", "404") == unmatched_before + 1


def test_the_metrics_page_shows_the_series_after_a_request(api_client):
    api_client.get("/api/health/")

    response = api_client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert re.search(
        r'^shop_http_requests_total\{method="GET",route="api/health/",status="200"\} [1-9]',
        text,
        re.M,
    )
    assert (
        'shop_http_request_duration_seconds_bucket{le="0.005",method="GET",route="api/health/"}'
        in text
    )


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
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


@pytest.fixture
def gunicorn(tmp_path):
    """The Procfile's gateway line, with two workers, on a free port; its var dir a new one."""
    port = free_port()
    path = [str(STAGE_DIR), str(GENERATED_PROTOS), os.environ.get("PYTHONPATH", "")]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(part for part in path if part),
        "SHOP_VAR_DIR": str(tmp_path),
        "SHOP_PORT": str(port),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn.conf.py sets it, per server
    stale = tmp_path / "metrics" / f"gunicorn-{port}" / "counter_999999.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by an earlier run")  # not a metrics file: must be cleaned away
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "gateway.asgi", "--worker-class", "asgi",
            "--bind", f"127.0.0.1:{port}", "--workers", "2", "--no-control-socket",
        ],
        cwd=STAGE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(f"{base}/api/health/")
                break
            except OSError:  # not listening yet, or a worker still starting
                assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not answer within 30 s"
                time.sleep(0.2)
        yield base, tmp_path / "metrics" / f"gunicorn-{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        log.close()


def test_every_gunicorn_workers_requests_are_in_one_metrics_answer(gunicorn):
    base, folder = gunicorn
    assert not (folder / "counter_999999.db").exists()  # the last run's file, cleaned away
    # Each worker writes its own counts to a file of its own (named after its pid) ...
    until_both_workers_count(base, folder)
    before = health_requests(get(f"{base}/metrics"))
    # Eight clients at once: a sync worker serves one request at a time, so both take some.
    with ThreadPoolExecutor(max_workers=8) as clients:
        list(clients.map(lambda _: get(f"{base}/api/health/"), range(40)))

    text = get(f"{base}/metrics")

    # ... and /metrics, whichever worker answers it, adds them up. Without multiprocess
    # mode each worker would answer with its own count only.
    assert health_requests(text) == before + 40, text
