"""The monolith's metrics: requests by route and status at the web's /metrics, added up across
gunicorn's workers (prometheus-client's multiprocess mode); the outbox's lag and the
notifications queue's depth, in-process and at the relay's and the consumer's metrics ports.
(The catalog service's are in catalog_service/tests, the proxy's in tests/proxy.)"""

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
from concurrent.futures import ThreadPoolExecutor as OneThread
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path

from django.utils import timezone
from kernel import broker
from kernel.metrics import QueueDepth
from messaging.metrics import OutboxLag
from messaging.models import OutboxMessage
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

STAGE_DIR = Path(__file__).resolve().parents[1]
PROCFILE = STAGE_DIR / "Procfile"
OFFSETS = (0, 1, 2, 3, 10, 20, 21)  # the ports the Procfile's processes take, from SHOP_PORT
# gunicorn and celery, as honcho finds them: in the environment's bin folder.
VENV_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def requests(route: str, status: str) -> float:
    labels = {"method": "GET", "route": route, "status": status}
    return REGISTRY.get_sample_value("shop_http_requests_total", labels) or 0.0


def test_each_request_is_counted_by_its_route_not_its_path(api_client, db):
    route = "api/carts/<uuid:cart_id>/"
    found_before, missing_before = requests(route, "200"), requests(route, "404")
    unmatched_before = requests("unmatched", "404")
    carts = [api_client.post("/api/carts/").json()["id"] for _ in range(2)]

    for cart_id in carts:
        api_client.get(f"/api/carts/{cart_id}/")
    api_client.get(f"/api/carts/{uuid.uuid4()}/")
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
    shop_port = free_port()
    port = shop_port + 10  # the monolith's, behind the proxy
    with procfile_process("web", tmp_path, SHOP_PORT=str(shop_port), SHOP_WEB_WORKERS="2") as web:
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


def scrape(*collectors) -> str:
    """The text a scrape reads, made in a thread of its own as the metrics server makes it
    (a collector that reads the database uses, and closes, that thread's connection)."""
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    with OneThread(max_workers=1) as thread:
        return thread.submit(generate_latest, registry).result().decode()


def test_the_outbox_lag_is_the_age_of_the_oldest_unpublished_row(
    transactional_db, make_product, make_order
):
    assert "shop_outbox_oldest_unpublished_age_seconds 0.0" in scrape(OutboxLag())

    make_order([(make_product(), 1)])
    make_order([(make_product(), 1)])
    first, second = OutboxMessage.objects.order_by("id")
    OutboxMessage.objects.filter(pk=first.pk).update(
        created_at=timezone.now() - timedelta(hours=1), published_at=timezone.now()
    )  # published: no lag, however old
    OutboxMessage.objects.filter(pk=second.pk).update(
        created_at=timezone.now() - timedelta(seconds=90)
    )

    text = scrape(OutboxLag())

    age = float(re.search(r"^shop_outbox_oldest_unpublished_age_seconds (\S+)$", text, re.M)[1])
    assert 90 <= age < 120
    assert "shop_outbox_unpublished_rows 1.0" in text


def test_a_queues_depth_is_what_the_broker_holds_for_it():
    queue = broker.consumer_queue(f"metrics-{uuid.uuid4().hex[:8]}", ["order.confirmed"])
    with broker.connection() as connection:
        bound = queue(connection.default_channel)
        bound.declare()
        try:
            producer = connection.Producer(exchange=broker.events_exchange())
            for _ in range(3):
                producer.publish({"n": 1}, routing_key="order.confirmed", serializer="json")

            text = scrape(QueueDepth(queue))

            assert f'shop_broker_queue_messages{{queue="{queue.name}"}} 3.0' in text
        finally:
            bound.purge()
            bound.delete()


def test_the_relay_and_the_consumer_serve_their_lag_on_their_metrics_ports(tmp_path):
    shop_port = free_port()
    env = {
        "SHOP_PORT": str(shop_port),
        "SHOP_BROKER_NAMESPACE": f"metrics-{uuid.uuid4().hex}",
        # A database of the test's own in either mode (the relay reads it): never the shop's.
        "DATABASE_URL": f"sqlite:///{tmp_path / 'metrics.sqlite3'}",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=STAGE_DIR, env={**os.environ, "SHOP_VAR_DIR": str(tmp_path), **env}, check=True,
    )  # fmt: skip
    with (
        procfile_process("relay", tmp_path, **env) as relay,
        procfile_process("notifications", tmp_path, **env) as consumer,
    ):
        relay_url = f"http://127.0.0.1:{shop_port + 1}/metrics"
        consumer_url = f"http://127.0.0.1:{shop_port + 2}/metrics"
        wait_for(relay_url, relay, tmp_path / "relay.log")
        wait_for(consumer_url, consumer, tmp_path / "notifications.log")

        relay_text, consumer_text = get(relay_url), get(consumer_url)

    assert re.search(r"^shop_outbox_oldest_unpublished_age_seconds 0\.0$", relay_text, re.M)
    assert re.search(r"^shop_outbox_unpublished_rows 0\.0$", relay_text, re.M)
    # The relay shows every subscriber's queue too (the consumer declared its own by now).
    notifications = f"{env['SHOP_BROKER_NAMESPACE']}.notifications"
    assert re.search(
        rf'^shop_broker_queue_messages{{queue="{notifications}"}} 0\.0$',
        relay_text,
        re.M,
    ), relay_text
    assert re.search(
        rf'^shop_broker_queue_messages{{queue="{env["SHOP_BROKER_NAMESPACE"]}[^"]*"}} 0\.0$',
        consumer_text,
        re.M,
    ), consumer_text
