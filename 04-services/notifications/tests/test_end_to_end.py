"""The event path through the configured broker, with the consumer as the process of the
Procfile: an event recorded in an outbox and published by the chassis's relay reaches
`python -m notifications consume_events`, which sends its email once, even when the relay
publishes the event twice.

In embedded mode this is what shows that kombu's file-system transport routes across
processes: the consumer process binds its queue (a file in the control folder), and this
process, the publisher, finds the binding there.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from chassis import outbox, relay
from chassis.models import OutboxMessage, ProcessedEvent
from chassis.order_events import OrderCancelled, OrderConfirmed
from django.conf import settings
from django.db import connection, transaction

from notifications import handlers

from .events import an_order_event

STAGE_DIR = Path(__file__).resolve().parents[2]
GENERATED_PROTOS = STAGE_DIR.parent / "proto" / "_generated"


def database_url_of_the_test_run() -> str:
    """The URL of the test database this run created (the consumer must write its rows)."""
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    return (
        f"postgres://{credentials}@{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"
    )


class Consumer:
    """`python -m notifications consume_events`, run from the stage folder as the Procfile
    runs it; its output (the emails, printed by the console backend) goes to a file."""

    def __init__(self, log: Path):
        with socket.socket() as probe:  # a free port for its metrics, as the Procfile gives
            probe.bind(("127.0.0.1", 0))
            self.metrics_port = probe.getsockname()[1]
        path = [str(STAGE_DIR), str(GENERATED_PROTOS), os.environ.get("PYTHONPATH", "")]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(part for part in path if part),
            "PYTHONUNBUFFERED": "1",
            # The service's own database, named in full: the test database of this run.
            "NOTIFICATIONS_DATABASE_URL": database_url_of_the_test_run(),
            "SHOP_VAR_DIR": str(settings.VAR_DIR),  # the same broker folder in embedded mode
            "SHOP_BROKER_NAMESPACE": settings.SHOP_BROKER_NAMESPACE,
            "SHOP_EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
            "SHOP_METRICS_PORT": str(self.metrics_port),
        }
        self.log = log
        self._log_file = log.open("w")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "notifications", "consume_events"],
            cwd=STAGE_DIR,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, text: str, *, count: int = 1, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.output().count(text) < count:
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


def wait_until(condition, timeout: float = 10.0) -> bool:
    """Poll `condition` until it holds or `timeout` s pass; return whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def consumer(transactional_db, tmp_path) -> Iterator[Consumer]:
    started = Consumer(tmp_path / "notifications.log")
    try:
        # The consumer declares its queue and binding on start; the relay declares them too
        # before it publishes, so either may come first, but waiting keeps the test simple.
        started.wait_for("event=consumer_ready")
        yield started
    finally:
        if started.popen.poll() is None:
            started.stop()


def test_an_event_published_twice_is_emailed_once_by_the_consumer_process(consumer):
    confirmed = an_order_event(OrderConfirmed, email="ada@example.com")
    cancelled = an_order_event(OrderCancelled, order_id=confirmed.order_id)
    with transaction.atomic():
        outbox.record(confirmed)
    publisher = relay.Publisher()
    try:
        assert relay.publish_pending(publisher=publisher) == 1
        # A relay that died after publishing and before marking the row publishes it again.
        OutboxMessage.objects.update(published_at=None)
        assert relay.publish_pending(publisher=publisher) == 1
        with transaction.atomic():
            outbox.record(cancelled)
        assert relay.publish_pending(publisher=publisher) == 1
    finally:
        publisher.close()

    consumer.wait_for(f"Subject: Your order {confirmed.order_id} is cancelled")

    emails = consumer.output()
    assert emails.count(f"Subject: Your order {confirmed.order_id} is confirmed") == 1
    assert "event=event_duplicate event_type=order.confirmed" in emails
    assert "2 x Kettle (KI-0001) at 12.50 EUR" in emails
    assert "To: ada@example.com" in emails
    # The consumer prints the email inside the transaction that records the event as
    # processed: the row may be committed a moment after the text shows.
    assert wait_until(lambda: ProcessedEvent.objects.filter(consumer="notifications").count() == 2)
    # It stops promptly on SIGTERM, as honcho asks it to (honcho kills after 5 s).
    assert consumer.stop() < 4
    assert consumer.popen.returncode == 0


def test_the_consumer_process_shows_its_queues_depth_on_its_metrics_port(consumer):
    url = f"http://127.0.0.1:{consumer.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()

    assert f'shop_broker_queue_messages{{queue="{handlers.queue().name}"}} 0.0' in text
    assert "process_cpu_seconds_total" in text  # the process's own figures, too
