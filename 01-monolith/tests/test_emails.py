"""Order emails: sent once by a Celery task, queued only after the order is committed.

Three levels: the service that sends an email (called directly), the queueing after commit
(with a stand-in for the Celery task), and the whole path through a real worker on the
configured broker (RabbitMQ in real mode, kombu's file-system transport in embedded mode).
"""

import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from config.celery import app as celery_app
from kombu.exceptions import OperationalError as BrokerError
from shop import services, tasks
from shop.errors import OutOfStock
from shop.models import Order


# --- sending ---------------------------------------------------------------------------------
def test_a_confirmation_is_sent_once_even_if_the_task_runs_twice(
    make_product, make_order, mailoutbox
):
    kettle = make_product(name="Kettle", sku="KI-0001", price_cents=1250)
    order = make_order([(kettle, 2)], email="ada@example.com")

    first = services.order_email_send(order_id=order.id, kind="confirmation")
    second = services.order_email_send(order_id=order.id, kind="confirmation")

    assert (first, second) == (True, False)
    [email] = mailoutbox
    assert email.to == ["ada@example.com"]
    assert email.subject == f"Your order {order.id} is confirmed"
    assert str(order.id) in email.body
    assert "2 x Kettle (KI-0001) at 12.50 EUR" in email.body
    assert "Total: 25.00 EUR" in email.body


def test_a_cancellation_is_sent_once_too(make_product, make_order, mailoutbox):
    order = make_order([(make_product(), 1)])
    services.order_email_send(order_id=order.id, kind="confirmation")
    services.cancel_order(order_id=order.id)

    services.order_email_send(order_id=order.id, kind="cancellation")
    services.order_email_send(order_id=order.id, kind="cancellation")

    assert [email.subject for email in mailoutbox] == [
        f"Your order {order.id} is confirmed",
        f"Your order {order.id} is cancelled",
    ]


def test_no_email_for_an_unknown_order(db, mailoutbox):
    assert services.order_email_send(order_id=uuid.uuid4(), kind="confirmation") is False
    assert mailoutbox == []


def test_the_task_takes_the_order_id_as_a_string(make_product, make_order, mailoutbox):
    # What the broker carries is JSON: the task gets the id as a string, not a UUID.
    order = make_order([(make_product(), 1)])

    assert tasks.send_order_confirmation(str(order.id)) is True
    assert len(mailoutbox) == 1


# --- queueing after commit -------------------------------------------------------------------
class RecordingTask:
    """Stands in for a Celery task: records what would have been queued."""

    def __init__(self, fails: bool = False):
        self.queued: list[tuple] = []
        self.fails = fails

    def delay(self, *args):
        if self.fails:
            raise BrokerError("[Errno 111] Connection refused")
        self.queued.append(args)


@pytest.fixture
def confirmation_task(monkeypatch) -> RecordingTask:
    task = RecordingTask()
    monkeypatch.setattr(tasks, "send_order_confirmation", task)
    return task


def test_the_confirmation_is_queued_only_once_the_order_is_committed(
    make_product, make_cart, confirmation_task, django_capture_on_commit_callbacks
):
    cart = make_cart([(make_product(), 1)])

    with django_capture_on_commit_callbacks() as callbacks:
        order = services.place_order(
            cart_id=cart.id, email="ada@example.com", payment_token="tok_visa"
        )
        # Inside the transaction nothing is queued: a worker could not see the order yet,
        # and the transaction might still roll back.
        assert confirmation_task.queued == []

    for callback in callbacks:  # what Django does when the transaction commits
        callback()
    assert confirmation_task.queued == [(str(order.id),)]


def test_a_refused_checkout_queues_no_email(
    make_product, make_cart, confirmation_task, django_capture_on_commit_callbacks
):
    cart = make_cart([(make_product(stock=0), 1)])

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(OutOfStock),
    ):
        services.place_order(cart_id=cart.id, email="ada@example.com", payment_token="tok_visa")

    assert callbacks == []
    assert confirmation_task.queued == []


def test_cancelling_queues_the_cancellation(
    make_product, make_order, monkeypatch, django_capture_on_commit_callbacks
):
    cancellation_task = RecordingTask()
    monkeypatch.setattr(tasks, "send_order_cancellation", cancellation_task)
    order = make_order([(make_product(), 1)])

    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_order(order_id=order.id)

    assert cancellation_task.queued == [(str(order.id),)]


def test_a_broker_that_is_down_loses_the_email_but_not_the_order(
    make_product, make_cart, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    # The weakness of "send after save" that stage 02's transactional outbox removes.
    monkeypatch.setattr(tasks, "send_order_confirmation", RecordingTask(fails=True))
    cart = make_cart([(make_product(), 1)])

    with django_capture_on_commit_callbacks(execute=True):
        order = services.place_order(
            cart_id=cart.id, email="ada@example.com", payment_token="tok_visa"
        )

    assert Order.objects.get(id=order.id).status == Order.Status.CONFIRMED
    assert "event=email_not_queued" in caplog.text


# --- end to end, through a real worker -------------------------------------------------------
@pytest.fixture
def celery_worker_thread(transactional_db):
    """A Celery worker in a thread of this process, consuming the test run's queue.

    It runs the tasks as `celery worker` does: the message goes through the broker, is
    decoded from JSON, and the task reads the order through its own database connection,
    which is why the test data must be committed (transactional_db). No eager mode: it would
    hide serialization and transaction bugs.

    - perform_ping_check=False: the ping check waits for a task *result*, and this app keeps
      none (no result backend, task_ignore_result).
    - pool="threads": with "solo" the task runs inside the worker's event loop, and there we
      saw a second message wait up to 10 s (the loop's longest sleep) before it was taken.
    - Remote control needs nothing special: in embedded mode settings.py turns it off (the
      file-system transport has no fanout); on RabbitMQ the worker uses it as usual.

    Stopping the worker takes a few seconds (up to 10 on RabbitMQ): it looks for the stop
    request only between two polls of the broker.
    """
    # Start from an empty queue: earlier tests committed orders (test_concurrency) and left
    # their confirmation tasks behind, for orders since flushed away. The file-system
    # transport takes one message a second: behind them, our email could take too long.
    celery_app.control.purge()
    # 30 s to stop, not celery's 10: on a loaded CI machine a worker finishing its last
    # task (and flushing its spans) has been seen to need more.
    with start_worker(
        celery_app, pool="threads", perform_ping_check=False, shutdown_timeout=30
    ) as worker:
        yield worker


def wait_for(condition, timeout: float = 15.0) -> bool:
    """Poll `condition()` until it is true or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_worker_sends_the_confirmation_and_the_cancellation(
    celery_worker_thread, api_client, make_product, make_cart, mailoutbox
):
    cart = make_cart([(make_product(price_cents=1250), 2)])

    # No django_capture_on_commit_callbacks here: this test's transactions really commit,
    # so Django runs the on_commit callback (the publish to the broker) right then, as it
    # would in production.
    response = api_client.post(
        "/api/orders/",
        {"cart_id": str(cart.id), "email": "ada@example.com", "payment_token": "tok_visa"},
    )
    assert response.status_code == 201
    order_id = response.json()["id"]

    assert wait_for(lambda: len(mailoutbox) == 1), "no confirmation email within 15 s"
    assert mailoutbox[0].subject == f"Your order {order_id} is confirmed"
    assert "Total: 25.00 EUR" in mailoutbox[0].body

    assert api_client.post(f"/api/orders/{order_id}/cancel/").status_code == 200

    assert wait_for(lambda: len(mailoutbox) == 2), "no cancellation email within 15 s"
    assert mailoutbox[1].subject == f"Your order {order_id} is cancelled"
    # The task sends the email, then records that it did: wait for the record too.
    sent = Order.objects.filter(
        id=order_id, confirmation_sent_at__isnull=False, cancellation_sent_at__isnull=False
    )
    assert wait_for(sent.exists), "the emails were sent but not recorded within 15 s"
