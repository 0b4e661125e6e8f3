"""Fixtures of the payments service's tests: the service on an in-process server, reached
through chassis.clients.payments as the orders service reaches it, and a provider whose
calls are counted."""

import uuid
from collections.abc import Iterator

import pytest
from chassis import clients
from chassis.grpc_client import ServiceClient, open_channel
from chassis.testing import django_db_modify_db_settings, serving  # noqa: F401 (a fixture)
from shop.payments.v1 import payments_pb2, payments_pb2_grpc

from payments import provider
from payments.grpc_api import register


@pytest.fixture
def payments_target(settings) -> Iterator[str]:
    """Where the in-process server listens; SHOP_GRPC_TARGETS["payments"] says so too.

    Its servicer works in the server's threads, with their own database connections (hence
    `django_db(transaction=True)` in the tests); CONN_MAX_AGE 0 has each of them close its
    connection after the call, so no thread holds the test database open at its teardown.
    """
    with serving(register, service="payments", settings=settings) as target:
        yield target


@pytest.fixture
def payments(payments_target) -> ServiceClient:
    """The client the orders service uses: failures come back as the chassis's errors."""
    return clients.payments


@pytest.fixture
def payments_stub(payments_target) -> Iterator[payments_pb2_grpc.PaymentsServiceStub]:
    """A stub on a channel of its own (plaintext, or mutual TLS as the stage runs it),
    without the chassis's client, for what that client hides: the status codes themselves."""
    with open_channel(payments_target) as channel:
        yield payments_pb2_grpc.PaymentsServiceStub(channel)


@pytest.fixture
def provider_calls(monkeypatch) -> list[str]:
    """The idempotency key of every charge the provider is asked for; it still answers."""
    calls: list[str] = []
    authorize = provider.authorize

    def counted(**request) -> str:
        calls.append(request["idempotency_key"])
        return authorize(**request)

    monkeypatch.setattr(provider, "authorize", counted)
    return calls


def charge_request(**fields) -> payments_pb2.CreateChargeRequest:
    """A charge of 25.00 for a new order with an approved token, unless the test says."""
    order_id = str(uuid.uuid4())
    values = {
        "idempotency_key": f"charge-{order_id}",
        "order_id": order_id,
        "amount_cents": 2500,
        "payment_token": "tok_visa",
    }
    return payments_pb2.CreateChargeRequest(**{**values, **fields})
