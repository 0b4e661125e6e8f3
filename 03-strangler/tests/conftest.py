"""Fixtures shared by the whole suite: API clients, factories with database access, the demo
catalog, and broker names of the test run's own.

The factories themselves live in tests/factories.py; the fixtures here hand them to a test
together with database access, so a test only asks for what it uses:
`def test_something(make_product, api_client): ...`.
"""

import io
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from kernel import broker
from kombu import Exchange, Queue

from . import factories
from .clients import ShopClient, basic_auth


# --- broker names ----------------------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def events_namespace() -> str:
    """Give this test run exchange and queue names of its own.

    A running stage (`make run`) and other test runs may share the broker (one RabbitMQ in
    real mode, one broker folder in embedded mode): with the stage's names, they would take
    each other's events.
    """
    namespace = f"shop-03-test-{uuid.uuid4().hex[:8]}"
    with override_settings(SHOP_BROKER_NAMESPACE=namespace):
        yield namespace
        # Every subscriber's queue: the relay declared them all (catalog-sync's too).
        subscribed = [broker.subscribed_queue(name) for name in settings.SHOP_EVENT_SUBSCRIPTIONS]
        remove_from_the_broker(subscribed, broker.events_exchange())


def remove_from_the_broker(queues: list[Queue], exchange: Exchange) -> None:
    """Delete durable queues and their exchange, which would otherwise outlive the test run."""
    with broker.connection() as connection:
        channel = connection.default_channel
        for queue in queues:
            bound = queue(channel)
            bound.declare()  # the run may not have declared it: now there is one to delete
            bound.purge()
            bound.delete()
        exchange(channel).delete()
    if connection.transport_cls == "filesystem":
        # The file-system transport keeps an exchange's bindings in a file it never removes.
        control = Path(settings.BROKER_TRANSPORT_OPTIONS["control_folder"])
        (control / f"{exchange.name}.exchange").unlink(missing_ok=True)


# --- the catalog behind catalog.api ---------------------------------------------------------
@pytest.fixture(autouse=True)
def local_catalog(settings):
    """The monolith's own catalog tables, unless a test asks for the catalog service
    (the `catalog_backend` fixture of tests/catalog/conftest.py): the factories write there."""
    settings.SHOP_CATALOG_BACKEND = "local"


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
