"""Fixtures of the gateway's tests: the fake services behind it, API clients, users.

One gRPC server, started once for the run, serves fakes of the four services
(tests/fakes.py); before each test they forget their script and the settings point every
client of chassis.clients at them, with a short deadline so that a hanging service costs a
test half a second.
"""

import socket
from collections.abc import Iterator

import pytest
from chassis.grpc_client import close_channels
from chassis.testing import running_server
from django.contrib.auth import get_user_model

from gateway import auth

from .clients import ShopClient, basic_auth
from .fakes import FakeServices

BUDGET = 0.5  # seconds: a public request's time budget in these tests (SHOP_REQUEST_BUDGET)
CHECKOUT_BUDGET = 1.0  # SHOP_CHECKOUT_BUDGET


@pytest.fixture(scope="session")
def fake_server() -> Iterator[tuple[FakeServices, str]]:
    fakes = FakeServices.make()
    with running_server(fakes.register()) as target:
        yield fakes, target


@pytest.fixture(autouse=True)
def services(fake_server, settings) -> FakeServices:
    """The fake services, with nothing scripted, answering every call of this test."""
    fakes, target = fake_server
    for fake in fakes.all():
        fake.reset()
    close_channels()  # fresh retry budgets: one test's failures do not throttle the next
    settings.SHOP_GRPC_TARGETS = {name: target for name in settings.SHOP_GRPC_TARGETS}
    settings.SHOP_REQUEST_BUDGET = BUDGET
    settings.SHOP_CHECKOUT_BUDGET = CHECKOUT_BUDGET
    return fakes


@pytest.fixture
def nowhere() -> str:
    """A target where nothing listens: a service that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hash the tests' passwords with MD5: Django's real hasher is slow on purpose (about
    0.2 s a login), and every request with Basic auth checks a password."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(*, username: str, password: str, is_staff: bool = False):
    return get_user_model().objects.create_user(
        username=username, password=password, is_staff=is_staff
    )


def make_token(user) -> str:
    return auth.issue_token(user=user)[0]


@pytest.fixture
def api_client() -> ShopClient:
    """An anonymous client, as a shopper's browser or app."""
    return ShopClient()


@pytest.fixture(params=["basic", "token"])
def staff_client(request, db) -> ShopClient:
    """A client logged in as staff; every test using it runs once per scheme API.md allows."""
    user = make_user(username="staff", password="staff-password", is_staff=True)
    client = ShopClient()
    if request.param == "basic":
        client.credentials(HTTP_AUTHORIZATION=basic_auth("staff", "staff-password"))
    else:
        client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(user)}")
    return client


@pytest.fixture
def customer_client(db) -> ShopClient:
    """A client with valid credentials of a user who is not staff."""
    make_user(username="customer", password="customer-password")
    client = ShopClient()
    client.credentials(HTTP_AUTHORIZATION=basic_auth("customer", "customer-password"))
    return client
