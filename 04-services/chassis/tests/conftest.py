"""Fixtures of the chassis's own tests: broker names of the test run's own."""

import uuid

import pytest
from django.test import override_settings

from chassis.broker_testing import remove_namespace_from_the_broker


@pytest.fixture(scope="session", autouse=True)
def events_namespace() -> str:
    """Give this test run exchange and queue names of its own.

    A running stage (`make run`), the services' test runs and other runs of these tests may
    share the broker (one RabbitMQ in real mode, one broker folder in embedded mode): with the
    stage's names, they would take each other's events.
    """
    namespace = f"shop-04-chassis-test-{uuid.uuid4().hex[:8]}"
    with override_settings(SHOP_BROKER_NAMESPACE=namespace):
        yield namespace
        remove_namespace_from_the_broker()
