"""The chassis's metrics: gRPC calls by method and code, the outbox's lag, a queue's depth,
and serve() on SHOP_METRICS_PORT, read back the way Prometheus reads them (its text format
over HTTP, or the registry the endpoint renders)."""

import re
import socket
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from chassis import broker, errors, metrics
from chassis.broker_testing import remove_from_the_broker
from chassis.models import OutboxMessage

from .test_grpc_errors import client, get, servicer  # noqa: F401, F811 (the fixtures)
from .things import ThingHappened, record_in_one_transaction

METHOD = "RaisingCatalog.GetProduct"


def calls(code: str) -> float:
    return (
        REGISTRY.get_sample_value("shop_grpc_server_calls_total", {"method": METHOD, "code": code})
        or 0.0
    )


def scrape(*collectors) -> str:
    """The text a scrape reads, made in a thread of its own as the metrics server makes it
    (a collector that reads the database uses, and closes, that thread's connection)."""
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(generate_latest, registry).result().decode()


def test_each_grpc_call_is_counted_by_method_and_status_code_and_timed(client, servicer):  # noqa: F811
    ok_before, not_found_before = calls("OK"), calls("NOT_FOUND")
    timed_before = (
        REGISTRY.get_sample_value(
            "shop_grpc_server_call_duration_seconds_count", {"method": METHOD}
        )
        or 0.0
    )

    get(client)
    servicer.error = errors.NotFound("No product with id 1.")
    with pytest.raises(errors.NotFound):
        get(client)

    assert calls("OK") == ok_before + 1
    assert calls("NOT_FOUND") == not_found_before + 1
    timed = REGISTRY.get_sample_value(
        "shop_grpc_server_call_duration_seconds_count", {"method": METHOD}
    )
    assert timed == timed_before + 2


def test_the_outbox_lag_is_the_age_of_the_oldest_unpublished_row(transactional_db):
    assert "shop_outbox_oldest_unpublished_age_seconds 0.0" in scrape(metrics.OutboxLag())

    record_in_one_transaction(ThingHappened(thing_id=1), ThingHappened(thing_id=2))
    oldest = OutboxMessage.objects.order_by("id").first()
    OutboxMessage.objects.filter(pk=oldest.pk).update(
        created_at=timezone.now() - timedelta(seconds=90)
    )
    # A published row, older still, is no lag.
    OutboxMessage.objects.create(
        event_id=uuid.uuid4(), event_type="thing.happened", aggregate_id="x", payload={},
        published_at=timezone.now(),
    )  # fmt: skip
    OutboxMessage.objects.filter(published_at__isnull=False).update(
        created_at=timezone.now() - timedelta(hours=1)
    )

    text = scrape(metrics.OutboxLag())

    age = float(re.search(r"^shop_outbox_oldest_unpublished_age_seconds (\S+)$", text, re.M)[1])
    assert 90 <= age < 120
    assert "shop_outbox_unpublished_rows 2.0" in text


def test_a_queues_depth_is_what_the_broker_holds_for_it():
    queue = broker.consumer_queue(f"metrics-{uuid.uuid4().hex[:8]}", ["thing.happened"])
    try:
        with broker.connection() as connection:
            queue(connection.default_channel).declare()
            producer = connection.Producer(exchange=broker.events_exchange())
            for _ in range(3):
                producer.publish({"n": 1}, routing_key="thing.happened", serializer="json")

        text = scrape(metrics.QueueDepth(queue))

        assert f'shop_broker_queue_messages{{queue="{queue.name}"}} 3.0' in text
    finally:
        remove_from_the_broker([queue], broker.events_exchange())


def test_serve_answers_on_shop_metrics_port_with_the_process_figures(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SHOP_METRICS_PORT", str(port))

    assert metrics.serve() == port

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "# TYPE shop_grpc_server_calls_total counter" in text
    assert "process_resident_memory_bytes" in text


def test_serve_does_nothing_without_a_port(monkeypatch):
    monkeypatch.delenv("SHOP_METRICS_PORT", raising=False)

    assert metrics.serve() is None
