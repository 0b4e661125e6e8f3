"""Options and fixtures of the contract suite: where the shop is, who staff is, HTTP clients."""

import os
from collections.abc import Iterator

import httpx
import pytest
from support import Shop, expect

TIMEOUT = httpx.Timeout(10.0, connect=3.0)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--base-url",
        default=os.environ.get("SHOP_BASE_URL", "http://127.0.0.1:8000"),
        help="root URL of the running stage (default: $SHOP_BASE_URL or http://127.0.0.1:8000)",
    )


@pytest.fixture(scope="session")
def base_url(pytestconfig: pytest.Config) -> str:
    return pytestconfig.getoption("base_url").rstrip("/")


@pytest.fixture(scope="session")
def staff_credentials() -> tuple[str, str]:
    return (
        os.environ.get("SHOP_STAFF_USER", "staff"),
        os.environ.get("SHOP_STAFF_PASSWORD", "staff"),
    )


@pytest.fixture(scope="session", autouse=True)
def shop_answers(base_url: str) -> None:
    """Stop the run with one clear line when no stage is up, instead of one error per test."""
    try:
        response = httpx.get(f"{base_url}/api/health/", timeout=TIMEOUT)
    except httpx.HTTPError as error:
        pytest.exit(
            f"no shop answers at {base_url} ({type(error).__name__}): start a stage with `make run`"
        )
    if response.status_code != 200:
        pytest.exit(
            f"something answers at {base_url}, but GET /api/health/ gave "
            f"{response.status_code}: is a stage of this shop running there?"
        )


@pytest.fixture(scope="session")
def client(base_url: str) -> Iterator[httpx.Client]:
    """An anonymous client, as a shopper's browser or app would be."""
    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as anonymous:
        yield anonymous


@pytest.fixture(scope="session")
def staff_basic_client(base_url: str, staff_credentials: tuple[str, str]) -> Iterator[httpx.Client]:
    """A staff client that sends HTTP Basic auth on every request."""
    with httpx.Client(base_url=base_url, timeout=TIMEOUT, auth=staff_credentials) as staff:
        yield staff


@pytest.fixture(scope="session")
def staff_token(client: httpx.Client, staff_credentials: tuple[str, str]) -> str:
    username, password = staff_credentials
    response = client.post("/api/auth/token/", json={"username": username, "password": password})
    token = expect(response, 200)["token"]
    assert isinstance(token, str) and token
    return token


@pytest.fixture(scope="session")
def staff_client(base_url: str, staff_token: str) -> Iterator[httpx.Client]:
    """The staff client the factories use.

    It sends a token, not Basic auth: Basic makes the server hash the password on every
    request (Django's PBKDF2 takes a good fraction of a second by design), which would make
    a suite that sets up its own data slow. Basic auth has its own tests.
    """
    headers = {"Authorization": f"Token {staff_token}"}
    with httpx.Client(base_url=base_url, timeout=TIMEOUT, headers=headers) as staff:
        yield staff


@pytest.fixture(scope="session")
def shop(client: httpx.Client, staff_client: httpx.Client) -> Shop:
    return Shop(client, staff_client)
