"""The saga-recovery process's metric: the checkout sagas by state, every state shown."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from chassis.errors import PaymentDeclined
from prometheus_client import CollectorRegistry, generate_latest

from orders.metrics import SagaStates

from .conftest import make_cart, place_order

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the servicer runs in the server's threads
    pytest.mark.usefixtures("orders_server"),
]


def sagas_by_state() -> dict[str, float]:
    """A scrape, in a thread of its own as the metrics server does it."""
    registry = CollectorRegistry()
    registry.register(SagaStates())
    with ThreadPoolExecutor(max_workers=1) as thread:
        text = thread.submit(generate_latest, registry).result().decode()
    return {
        state: float(value)
        for state, value in re.findall(r'^shop_sagas\{state="(\w+)"\} (\S+)$', text, re.M)
    }


def test_the_sagas_are_counted_by_state_with_every_state_shown(fakes):
    assert set(sagas_by_state().values()) == {0.0}

    place_order(make_cart({fakes.product(1): 1}))
    place_order(make_cart({fakes.product(2): 1}))
    with pytest.raises(PaymentDeclined):
        place_order(make_cart({fakes.product(3): 1}), payment_token="tok_chargeDeclined")

    assert sagas_by_state() == {
        "running": 0.0,
        "compensating": 0.0,
        "confirmed": 2.0,
        "failed": 1.0,
        "cancelling": 0.0,
        "cancelled": 0.0,
    }
