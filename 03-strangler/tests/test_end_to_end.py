"""The whole event path, with the real processes of the Procfile and the configured broker.

An order placed through the API here is relayed by `manage.py relay_outbox` and emailed by
`manage.py consume_events`, each a process of its own, as under `make run`. This is what shows
that the broker routes across processes: in embedded mode kombu's file-system transport
keeps the consumer's binding in a file of its control folder, where the relay finds it.
"""

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from messaging.models import OutboxMessage

from .processes import STAGE_DIR as STAGE
from .processes import process_environment


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
    """A `manage.py` command running beside the test; its output goes to a file."""

    def __init__(self, command: str, env: dict[str, str], log: Path):
        self.log = log
        self._log_file = log.open("w")
        self.popen = subprocess.Popen(
            [sys.executable, "manage.py", command],
            cwd=STAGE,
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


@pytest.fixture
def processes(transactional_db, tmp_path) -> Iterator[dict[str, Process]]:
    """The relay and the notifications consumer, on the test database and the test run's
    broker names, printing emails to their output (Django's console email backend)."""
    env = process_environment(
        DATABASE_URL=database_url_of_the_test_run(),
        SHOP_VAR_DIR=str(settings.VAR_DIR),  # the same broker folder in embedded mode
        SHOP_BROKER_NAMESPACE=settings.SHOP_BROKER_NAMESPACE,
        SHOP_EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
    )
    started = {
        "notifications": Process("consume_events", env, tmp_path / "notifications.log"),
        "relay": Process("relay_outbox", env, tmp_path / "relay.log"),
    }
    try:
        # The consumer declares its queue and binding on start: events published before that
        # would have nowhere to go (see the README, "declare before you publish").
        started["notifications"].wait_for("event=consumer_ready")
        started["relay"].wait_for("event=relay_started")
        yield started
    finally:
        for process in started.values():
            if process.popen.poll() is None:
                process.stop()


def test_an_order_is_emailed_by_the_consumer_process_through_the_relay_process(
    processes, api_client, make_product, make_cart
):
    cart = make_cart([(make_product(name="Kettle", sku="KI-0001", price_cents=1250), 2)])

    response = api_client.post(
        "/api/orders/",
        {"cart_id": str(cart.id), "email": "ada@example.com", "payment_token": "tok_visa"},
    )
    assert response.status_code == 201
    order_id = response.json()["id"]
    processes["notifications"].wait_for(f"Subject: Your order {order_id} is confirmed")
    assert api_client.post(f"/api/orders/{order_id}/cancel/").status_code == 200
    processes["notifications"].wait_for(f"Subject: Your order {order_id} is cancelled")

    emails = processes["notifications"].output()
    assert "2 x Kettle (KI-0001) at 12.50 EUR" in emails
    assert "To: ada@example.com" in emails
    relay_log = processes["relay"].output()
    assert relay_log.count("event=outbox_published") == 2
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()
    # Both stop promptly on SIGTERM, as honcho asks them to (it kills after 5 s).
    assert processes["relay"].stop() < 3
    assert processes["notifications"].stop() < 4
    assert processes["relay"].popen.returncode == 0
    assert processes["notifications"].popen.returncode == 0
