"""The whole event path, with the real processes of the Procfile and the configured broker.

An order placed through the API here is relayed by `manage.py relay_outbox` and emailed by
`manage.py consume_events`, each a process of its own, as under `make run`. This is what shows
that the broker routes across processes: in embedded mode kombu's file-system transport
keeps the consumer's binding in a file of its control folder, where the relay finds it.
"""

from collections.abc import Iterator

import pytest
from django.conf import settings
from messaging.models import OutboxMessage

from .processes import Process, database_url_of_the_test_run, process_environment


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
        "notifications": Process(
            ["manage.py", "consume_events"], env, tmp_path / "notifications.log"
        ),
        "relay": Process(["manage.py", "relay_outbox"], env, tmp_path / "relay.log"),
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
