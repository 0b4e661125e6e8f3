"""Event-fed sync, with the real processes: a staff write in the monolith (the catalog still on
its own tables, SHOP_CATALOG_BACKEND=local) reaches the catalog service's database through the
outbox, the relay process and the service's catalog-sync process; and the parallel run (the
proxy in `shadow` mode) agrees again without anyone re-running `copy_catalog`.

The monolith answers from pytest-django's live server on the test database; the relay
(`manage.py relay_outbox`), the catalog service's HTTP side (gunicorn, as `catalog-web`), its
`sync_catalog` (as `catalog-sync`) and the proxy (`python -m proxy`, with a route table in
`shadow` mode) are processes of their own, on the test run's broker names and the catalog
service's test database, as under `make run`.
"""

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from messaging import relay
from messaging.models import OutboxMessage

from ..clients import basic_auth
from ..factories import make_user
from ..processes import Process, database_url_of_the_test_run, free_port, process_environment

SHADOW_ROUTES = """
[[route]]
name = "catalog reads"
methods = ["GET", "HEAD"]
prefix = "/api/products/"
mode = "shadow"
ignore = ["next", "previous"]
"""
STAFF = basic_auth("sync-staff", "sync-staff-password")


def wait_until(what: str, ready: Callable[[], object], timeout: float = 30.0):
    """Poll `ready()` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while not (result := ready()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)
    return result


@dataclass
class Stage:
    """The stage's processes around the test's monolith, and ways to use them."""

    proxy: str  # http://127.0.0.1:<port>
    catalog_web: str
    sync_environment: dict[str, str]
    folder: Path
    processes: dict[str, Process] = field(default_factory=dict)

    def start_catalog_sync(self) -> Process:
        self.processes["catalog-sync"] = Process(
            ["-m", "catalog_service", "sync_catalog"],
            self.sync_environment,
            self.folder / "catalog-sync.log",
        )
        self.processes["catalog-sync"].wait_for("event=consumer_ready")
        return self.processes["catalog-sync"]

    def create_product(self, **fields) -> dict:
        """A product created by staff through the proxy (a write: the monolith's)."""
        values = {
            "sku": f"SYNC-{uuid.uuid4().hex[:8]}",
            "name": "Synced kettle",
            "description": "",
            "category": "sync-test",
            "price": "12.50",
        }
        response = httpx.post(
            f"{self.proxy}/api/products/",
            json={**values, **fields},
            headers={"Authorization": STAFF},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return response.json()

    def change_price(self, product_id: int, price: str) -> None:
        response = httpx.patch(
            f"{self.proxy}/api/products/{product_id}/",
            json={"price": price},
            headers={"Authorization": STAFF},
            timeout=10,
        )
        assert response.status_code == 200, response.text

    def service_product(self, product: dict) -> dict | None:
        """`product` as the catalog service's own database has it, or None.

        The service's database outlives each test, so its row under the same id may be another
        test's product: it counts only when the sku (unique, made up per test) is the same."""
        response = httpx.get(f"{self.catalog_web}/api/products/{product['id']}/", timeout=10)
        if response.status_code != 200 or response.json()["sku"] != product["sku"]:
            return None
        return response.json()

    def read_through_the_proxy(self, product_id: int) -> None:
        response = httpx.get(f"{self.proxy}/api/products/{product_id}/", timeout=10)
        assert response.headers["X-Served-By"] == "monolith"  # shadow: the monolith answers

    def shadow_after(self, compared: int) -> dict:
        """The shadow's counts once `compared` reads have been compared (in the background)."""

        def counted() -> dict | None:
            stats = httpx.get(f"{self.proxy}/_proxy/stats", timeout=10).json()
            shadow = stats["shadow"].get("catalog reads", {})
            done = shadow.get("matches", 0) + shadow.get("differences", 0)
            return shadow if done >= compared else None

        return wait_until(f"{compared} shadow comparisons", counted)


def wait_for_http(url: str, process: Process, timeout: float = 30.0) -> None:
    def answers() -> bool:
        assert process.popen.poll() is None, f"exited early:\n{process.output()}"
        try:
            httpx.get(url, timeout=1)
        except httpx.TransportError:
            return False
        return True

    wait_until(f"{url} answers", answers, timeout)


@pytest.fixture
def stage(
    transactional_db, live_server, catalog_service_environment, settings, tmp_path
) -> Iterator[Stage]:
    """The monolith (live server) on its own catalog tables, its relay, the catalog service's
    HTTP side, and the proxy with the catalog reads in `shadow` mode; catalog-sync is started
    by the test (`stage.start_catalog_sync()`), so that a test may run without it first."""
    settings.SHOP_CATALOG_BACKEND = "local"
    make_user(username="sync-staff", password="sync-staff-password", is_staff=True)
    broker = {
        "SHOP_VAR_DIR": str(settings.VAR_DIR),  # the same broker folder in embedded mode
        "SHOP_BROKER_NAMESPACE": settings.SHOP_BROKER_NAMESPACE,
    }
    service = {**catalog_service_environment, **broker}
    web_port, proxy_port = free_port(), free_port()
    routes = tmp_path / "routes.toml"
    routes.write_text(SHADOW_ROUTES)
    processes = {
        "relay": Process(
            ["manage.py", "relay_outbox"],
            process_environment(DATABASE_URL=database_url_of_the_test_run(), **broker),
            tmp_path / "relay.log",
        ),
        "catalog-web": Process(
            ["-m", "gunicorn", "catalog_service.wsgi", "--bind", f"127.0.0.1:{web_port}"],
            service,
            tmp_path / "catalog-web.log",
        ),
        "proxy": Process(
            ["-m", "proxy"],
            process_environment(
                SHOP_PORT=str(proxy_port),
                SHOP_MONOLITH_URL=live_server.url,
                SHOP_CATALOG_URL=f"http://127.0.0.1:{web_port}",
                SHOP_PROXY_ROUTES=str(routes),
            ),
            tmp_path / "proxy.log",
        ),
    }
    stage = Stage(
        proxy=f"http://127.0.0.1:{proxy_port}",
        catalog_web=f"http://127.0.0.1:{web_port}",
        sync_environment=service,
        folder=tmp_path,
        processes=processes,
    )
    try:
        processes["relay"].wait_for("event=relay_started")
        wait_for_http(f"{stage.catalog_web}/api/health/", processes["catalog-web"])
        processes["proxy"].wait_for("event=proxy_started")
        yield stage
    finally:
        for process in stage.processes.values():
            if process.popen.poll() is None:
                process.stop()


def test_a_price_change_in_the_monolith_reaches_the_service_and_never_goes_back(stage):
    sync = stage.start_catalog_sync()
    product = stage.create_product(price="12.50")

    stage.change_price(product["id"], "13.99")

    wait_until(
        "the new price in the catalog service's database",
        lambda: (stage.service_product(product) or {}).get("price") == "13.99",
    )
    synced = stage.service_product(product)
    assert synced == {**product, "price": "13.99"}

    # Deliver the first event again (a relay that died before marking it published), and an
    # event older than the row under a new id (a replay, a second consumer overtaken): the
    # consumer sees both, and neither takes the price back to 12.50.
    created = OutboxMessage.objects.filter(aggregate_id=str(product["id"])).order_by("id")[0]
    older = {**created.payload, "event_id": str(uuid.uuid4())}
    publisher = relay.Publisher()
    try:
        publisher.publish(created.payload)
        publisher.publish(older)
    finally:
        publisher.close()
    later = stage.create_product()  # after both in the queue: once it is here, they were handled
    wait_until("the later product", lambda: stage.service_product(later))

    assert stage.service_product(product)["price"] == "13.99"
    log = sync.output()
    assert f"outcome=duplicate product_id={product['id']}" in log
    assert f"outcome=stale product_id={product['id']}" in log


def test_the_parallel_run_agrees_again_without_a_copy(stage):
    # catalog-sync is down: the monolith's write waits for it in its queue.
    product = stage.create_product(price="12.50")
    stage.read_through_the_proxy(product["id"])
    shadow = stage.shadow_after(compared=1)
    # The service has not heard of it yet (a 404, or another test's product under that id:
    # the service's database outlives each test).
    assert shadow["differences"] == 1, shadow
    assert shadow["last_differences"][0]["path"] == f"/api/products/{product['id']}/", shadow

    stage.start_catalog_sync()  # nothing was lost while it was down
    wait_until("the product in the service", lambda: stage.service_product(product))
    stage.change_price(product["id"], "13.99")  # a staff write, as in the chapter's step 3
    wait_until(
        "the new price in the service",
        lambda: (stage.service_product(product) or {}).get("price") == "13.99",
    )
    stage.read_through_the_proxy(product["id"])
    stage.read_through_the_proxy(product["id"])

    shadow = stage.shadow_after(compared=3)
    assert (shadow["matches"], shadow["differences"]) == (2, 1), shadow
    assert settings.SHOP_CATALOG_BACKEND == "local"  # the monolith wrote its own tables only
