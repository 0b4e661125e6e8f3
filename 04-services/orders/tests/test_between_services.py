"""How the orders service behaves towards the services it calls and the one that calls it:
retries in one place with a budget, one deadline for the whole request, errors that name the
service that failed and say what became of the payment.

The caller here is the gateway's own client (chassis.clients.orders), so each request is the
path a public request takes: gateway -> orders -> catalog, inventory or payments.
"""

import time

import pytest
from chassis import deadlines
from chassis.errors import ServiceUnavailable
from chassis.grpc_client import RETRY_POLICY
from shop.orders.v1 import orders_pb2

from orders.models import Order

from .conftest import call, checkout_request, make_cart

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the servicer runs in the server's threads
    pytest.mark.usefixtures("orders_server"),
]

BUDGET = 1.5  # seconds: the public request's, as the gateway would give it


def get_cart(cart_id) -> None:
    with pytest.raises(ServiceUnavailable) as raised:
        call("GetCart", orders_pb2.GetCartRequest(cart_id=str(cart_id)))
    assert raised.value.details == {"service": "catalog"}


# --- retries ---------------------------------------------------------------------------------
def test_a_dead_catalog_costs_one_retried_call_per_request_not_one_per_hop(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    fakes.catalog.fail("BatchGetProducts")

    get_cart(cart_id)

    # The orders service's channel retried the catalog; the gateway's channel did not retry
    # the orders service's answer on top (3 x 3 = 9 attempts before).
    assert fakes.catalog.calls["BatchGetProducts"] == RETRY_POLICY["maxAttempts"]


def test_a_catalog_that_stays_down_stops_being_retried(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    fakes.catalog.fail("BatchGetProducts")
    requests = 20

    attempts = []
    for _ in range(requests):
        before = fakes.catalog.calls["BatchGetProducts"]
        get_cart(cart_id)
        attempts.append(fakes.catalog.calls["BatchGetProducts"] - before)

    # The channel's retry budget (retryThrottling): after a handful of failures in a row it
    # sends each call once; what retries cost in all stays bounded.
    assert max(attempts) <= RETRY_POLICY["maxAttempts"]
    assert attempts[-10:] == [1] * 10
    assert sum(attempts) <= requests + 2 * (RETRY_POLICY["maxAttempts"] - 1)


# --- one deadline for the whole request ------------------------------------------------------
def test_a_charge_that_hangs_ends_the_checkout_within_its_budget(fakes, settings):
    settings.SHOP_GRPC_TIMEOUT = 5.0  # what each hop would wait on its own
    cart_id = make_cart({fakes.product(1): 1})
    released = fakes.payments.hold("CreateCharge")

    started = time.monotonic()
    try:
        with deadlines.budget(BUDGET), pytest.raises(ServiceUnavailable) as raised:
            call("PlaceOrder", checkout_request(cart_id, idempotency_key="k-hang"))
    finally:
        released.set()
    took = time.monotonic() - started

    assert took < BUDGET
    # The orders service gave up on payments a margin before the gateway would have given
    # up on it, and said so: the error names payments, not orders.
    order = Order.objects.get()
    assert raised.value.details == {"service": "payments", "payment": "unknown"}
    assert f"Order {order.id} is pending" in raised.value.message
    assert "do not check out again with a new Idempotency-Key" in raised.value.message


def test_a_reserve_that_hangs_names_the_inventory_and_nothing_charged(fakes, settings):
    settings.SHOP_GRPC_TIMEOUT = 5.0
    cart_id = make_cart({fakes.product(1): 1})
    released = fakes.inventory.hold("Reserve")

    started = time.monotonic()
    try:
        with deadlines.budget(BUDGET), pytest.raises(ServiceUnavailable) as raised:
            call("PlaceOrder", checkout_request(cart_id))
    finally:
        released.set()
    took = time.monotonic() - started

    assert took < BUDGET
    # No time was left to go back (Release): the recovery will; the answer still names the
    # service that hung, not the call that could not be made.
    assert raised.value.details == {"service": "inventory", "payment": "none"}
    assert fakes.payments.calls["CreateCharge"] == 0


# --- was the customer charged? ---------------------------------------------------------------
def test_a_checkout_stopped_before_the_charge_says_nothing_was_charged(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    fakes.inventory.fail("Reserve")

    with pytest.raises(ServiceUnavailable) as raised:
        call("PlaceOrder", checkout_request(cart_id))

    assert raised.value.details == {"service": "inventory", "payment": "none"}
    assert raised.value.message.endswith("Nothing was charged; the checkout can be tried again.")
    assert fakes.payments.calls["CreateCharge"] == 0


def test_a_checkout_with_the_catalog_down_says_nothing_was_charged(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    fakes.catalog.fail("BatchGetProducts")

    with pytest.raises(ServiceUnavailable) as raised:
        call("PlaceOrder", checkout_request(cart_id))

    assert raised.value.details == {"service": "catalog", "payment": "none"}


def test_a_checkout_whose_charge_got_no_answer_may_have_charged(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    fakes.payments.fail("CreateCharge", lost=True)  # charged, but the answer is lost

    with pytest.raises(ServiceUnavailable) as raised:
        call("PlaceOrder", checkout_request(cart_id, idempotency_key="k-lost"))

    assert raised.value.details == {"service": "payments", "payment": "unknown"}
