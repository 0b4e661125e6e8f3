"""Fixtures shared by the whole suite: API clients, factories with database access, the demo
catalog, and a Celery queue of the test run's own.

The factories themselves live in tests/factories.py; the fixtures here hand them to a test
together with database access, so a test only asks for what it uses:
`def test_something(make_product, api_client): ...`.
"""

import io
import uuid

import pytest
from config.celery import app as celery_app
from django.core.management import call_command

from . import factories
from .clients import ShopClient, basic_auth


# --- Celery ----------------------------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def celery_test_queue():
    """Send this test run's tasks to a queue of its own, and delete it at the end.

    The stage's own worker (`make run`) and another test run may use the same broker (one
    RabbitMQ in real mode): on the stage's queue they would take each other's messages, and
    an email this run waits for could be "sent" by a worker that cannot see our test database.
    The queue hangs off the stage's exchange under its own routing key, so the run creates
    nothing else on the broker.
    """
    stage_queue = celery_app.conf.task_default_queue
    queue = f"{stage_queue}-test-{uuid.uuid4().hex[:8]}"
    celery_app.conf.update(task_default_queue=queue, task_default_exchange=stage_queue)
    yield queue
    with celery_app.connection_for_write() as connection:
        bound = celery_app.amqp.queues[queue].bind(connection.default_channel)
        bound.declare()  # the run may have sent no task at all: now there is one to delete
        bound.purge()  # the file-system transport keeps each message as a file: remove them
        bound.delete()


# --- speed -----------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hash the tests' passwords with MD5: Django's real hasher is slow on purpose (about
    0.2 s a login), and every request with Basic auth checks a password."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- API clients -----------------------------------------------------------------------------
@pytest.fixture
def api_client() -> ShopClient:
    """An anonymous client, as a shopper's browser or app."""
    return ShopClient()


@pytest.fixture(params=["basic", "token"])
def staff_client(request, db) -> ShopClient:
    """A client logged in as staff; every test using it runs once per scheme API.md allows."""
    user = factories.make_user(username="staff", password="staff-password", is_staff=True)
    client = ShopClient()
    if request.param == "basic":
        client.credentials(HTTP_AUTHORIZATION=basic_auth("staff", "staff-password"))
    else:
        client.credentials(HTTP_AUTHORIZATION=f"Token {factories.make_token(user)}")
    return client


@pytest.fixture
def customer_client(db) -> ShopClient:
    """A client with valid credentials of a user who is not staff."""
    factories.make_user(username="customer", password="customer-password")
    client = ShopClient()
    client.credentials(HTTP_AUTHORIZATION=basic_auth("customer", "customer-password"))
    return client


# --- data ------------------------------------------------------------------------------------
@pytest.fixture
def make_product(db):
    return factories.make_product


@pytest.fixture
def make_cart(db):
    return factories.make_cart


@pytest.fixture
def make_order(db):
    return factories.make_order


@pytest.fixture
def demo_catalog(db) -> None:
    """The 246 products of API.md's demo catalog, seeded as `make run` seeds them."""
    call_command("seed_demo", stdout=io.StringIO())
