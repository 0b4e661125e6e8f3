"""PlaceOrder and GetOrder over gRPC: the saga's happy path, each step failing in turn and
what it undoes, retries that never charge or reserve twice, and the Idempotency-Key."""

import uuid

import pytest
from chassis.errors import (
    CartClosed,
    IdempotencyKeyReused,
    NotFound,
    OutOfStock,
    PaymentDeclined,
    ServiceUnavailable,
    ValidationFailed,
)
from shop.inventory.v1 import inventory_pb2
from shop.orders.v1 import orders_pb2
from shop.payments.v1 import payments_pb2

from orders import orders
from orders.models import Cart, CheckoutSaga, Order

from .conftest import (
    InThread,
    call,
    events,
    make_cart,
    only_order,
    place_order,
    saga_of,
    wait_until,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the servicer runs in the server's threads
    pytest.mark.usefixtures("orders_server"),
]

Reservation = inventory_pb2.Reservation
Charge = payments_pb2.Charge


def cart_status(cart_id) -> str:
    return Cart.objects.get(id=cart_id).status


def get_order(order_id) -> orders_pb2.Order:
    return call("GetOrder", orders_pb2.GetOrderRequest(order_id=str(order_id)))


# --- the happy path --------------------------------------------------------------------------
def test_checkout_confirms_the_order_closes_the_cart_sells_the_stock_and_charges_once(fakes):
    lamp, kettle = fakes.product(1, price_cents=1250), fakes.product(2, price_cents=700, stock=5)
    cart_id = make_cart({lamp: 2, kettle: 1})

    answer = place_order(cart_id, email="ada@example.com")

    order = answer.order
    assert (order.status, order.email, order.total_cents, order.currency) == (
        "confirmed",
        "ada@example.com",
        3200,
        "EUR",
    )
    assert [(item.product_id, item.quantity, item.unit_price_cents) for item in order.items] == [
        (lamp, 2, 1250),
        (kettle, 1, 700),
    ]
    assert not answer.replayed
    assert get_order(order.id) == order
    assert cart_status(cart_id) == "checked_out"
    saga = saga_of(order.id)
    assert (saga.state, saga.step, saga.charge_key) == ("confirmed", "done", f"charge-{order.id}")
    reservation = fakes.inventory.reservations[str(saga.id)]
    assert reservation.status == Reservation.COMMITTED
    assert fakes.inventory.stock == {lamp: 98, kettle: 4}
    assert [request.idempotency_key for request in fakes.payments.requests["CreateCharge"]] == [
        f"charge-{order.id}"
    ]
    charge = fakes.payments.charge_of(order.id)
    assert (charge.status, charge.amount_cents, charge.currency) == (Charge.APPROVED, 3200, "EUR")
    (confirmed,) = events("order.confirmed")
    assert confirmed["aggregate_id"] == order.id
    assert confirmed["data"]["email"] == "ada@example.com"
    assert confirmed["data"]["total_cents"] == 3200
    assert [item["quantity"] for item in confirmed["data"]["items"]] == [2, 1]


def test_an_order_keeps_the_prices_it_was_placed_at(fakes):
    cart_id = make_cart({fakes.product(1, price_cents=1000): 2})
    order = place_order(cart_id).order

    fakes.catalog.add(1, price_cents=5000)

    assert get_order(order.id).total_cents == 2000
    assert get_order(order.id).items[0].unit_price_cents == 1000


def test_an_order_read_is_two_queries_and_no_catalog_call(fakes, django_assert_num_queries):
    cart_id = make_cart({fakes.product(id): 1 for id in range(1, 21)})
    order_id = uuid.UUID(place_order(cart_id).order.id)
    catalog_calls = fakes.catalog.calls["BatchGetProducts"]

    with django_assert_num_queries(2):
        order = orders.get(order_id=order_id)

    assert len(order.items) == 20
    assert fakes.catalog.calls["BatchGetProducts"] == catalog_calls


# --- refusals before anything starts ---------------------------------------------------------
@pytest.mark.parametrize("cart_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_checkout_of_an_unknown_cart_is_a_validation_error_on_cart_id(fakes, cart_id):
    with pytest.raises(ValidationFailed) as raised:
        place_order(cart_id)

    assert set(raised.value.fields) == {"cart_id"}


def test_checkout_of_an_empty_cart_is_a_validation_error_on_cart_id(fakes):
    with pytest.raises(ValidationFailed) as raised:
        place_order(make_cart())

    assert set(raised.value.fields) == {"cart_id"}
    assert not Order.objects.exists()


def test_checkout_with_an_invalid_email_is_a_validation_error_on_email(fakes):
    with pytest.raises(ValidationFailed) as raised:
        place_order(make_cart({fakes.product(1): 1}), email="not-an-email")

    assert set(raised.value.fields) == {"email"}


def test_checkout_of_a_checked_out_cart_is_cart_closed_and_changes_nothing(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    place_order(cart_id)

    with pytest.raises(CartClosed):
        place_order(cart_id)

    assert fakes.inventory.stock[1] == 99
    assert len(fakes.payments.charges) == 1


# --- step 2: reserve -------------------------------------------------------------------------
def test_out_of_stock_lists_the_shortages_charges_nothing_and_leaves_the_cart_open(fakes):
    short, empty, plenty = fakes.product(1, stock=2), fakes.product(2, stock=0), fakes.product(3)
    cart_id = make_cart({short: 5, empty: 1, plenty: 3})

    with pytest.raises(OutOfStock) as raised:
        place_order(cart_id)

    assert raised.value.details == {
        "shortages": [
            {"product_id": short, "requested": 5, "available": 2},
            {"product_id": empty, "requested": 1, "available": 0},
        ]
    }
    assert fakes.payments.calls["CreateCharge"] == 0
    assert fakes.inventory.stock == {short: 2, empty: 0, plenty: 100}
    assert cart_status(cart_id) == "open"
    order = only_order()
    assert order.status == "failed"
    assert saga_of(order.id).last_error.startswith("out_of_stock")
    with pytest.raises(NotFound):
        get_order(order.id)
    assert events("order.confirmed") == []


def test_inventory_down_at_reserve_is_service_unavailable_and_the_saga_goes_back_at_once(fakes):
    cart_id = make_cart({fakes.product(1): 3})
    fakes.inventory.fail("Reserve", lost=True)  # it reserves, every answer is lost

    with pytest.raises(ServiceUnavailable):
        place_order(cart_id)

    saga = saga_of(only_order().id)
    assert (saga.state, saga.order.status) == ("failed", "failed")
    assert fakes.inventory.reservations[str(saga.id)].status == Reservation.RELEASED
    assert fakes.inventory.stock[1] == 100
    assert fakes.payments.calls["CreateCharge"] == 0
    assert cart_status(cart_id) == "open"


def test_a_reserve_that_never_arrived_leaves_a_tombstone_so_a_late_one_takes_nothing(fakes):
    cart_id = make_cart({fakes.product(1): 3})
    fakes.inventory.fail("Reserve")

    with pytest.raises(ServiceUnavailable):
        place_order(cart_id)
    fakes.heal()
    saga = saga_of(only_order().id)
    late = fakes.inventory.Reserve(fakes.inventory.requests["Reserve"][0], context=None)

    assert (late.status, list(late.lines)) == (Reservation.RELEASED, [])
    assert fakes.inventory.stock[1] == 100
    assert saga.state == "failed"


# --- step 3: charge --------------------------------------------------------------------------
def test_a_declined_charge_releases_the_stock_and_leaves_the_cart_open(fakes):
    cart_id = make_cart({fakes.product(1): 2})

    with pytest.raises(PaymentDeclined):
        place_order(cart_id, payment_token="tok_chargeDeclined")

    saga = saga_of(only_order().id)
    assert (saga.state, saga.order.status) == ("failed", "failed")
    assert fakes.inventory.reservations[str(saga.id)].status == Reservation.RELEASED
    assert fakes.inventory.stock[1] == 100
    assert cart_status(cart_id) == "open"
    assert events("order.confirmed") == []


def test_a_cart_left_open_by_a_decline_can_be_paid_with_another_card(fakes):
    cart_id = make_cart({fakes.product(1): 2})
    with pytest.raises(PaymentDeclined):
        place_order(cart_id, payment_token="tok_chargeDeclined")

    order = place_order(cart_id, payment_token="tok_mastercard").order

    assert order.status == "confirmed"
    assert fakes.inventory.stock[1] == 98


def test_an_unknown_payment_token_is_a_validation_error_and_releases_the_stock(fakes):
    cart_id = make_cart({fakes.product(1): 2})

    with pytest.raises(ValidationFailed) as raised:
        place_order(cart_id, payment_token="tok_unknown")

    assert set(raised.value.fields) == {"payment_token"}
    assert fakes.inventory.stock[1] == 100
    assert cart_status(cart_id) == "open"


def test_payments_down_at_charge_leaves_the_saga_to_the_recovery(fakes):
    cart_id = make_cart({fakes.product(1): 2})
    fakes.payments.fail("CreateCharge")

    with pytest.raises(ServiceUnavailable):
        place_order(cart_id)

    saga = saga_of(only_order().id)
    assert (saga.state, saga.step, saga.order.status) == ("running", "charge", "pending")
    assert saga.last_error.startswith("service_unavailable")
    assert fakes.inventory.stock[1] == 98  # held until the recovery knows about the charge


# --- step 4: commit --------------------------------------------------------------------------
def test_inventory_down_at_commit_leaves_a_charged_saga_to_go_forward_later(fakes):
    cart_id = make_cart({fakes.product(1): 2})
    fakes.inventory.fail("Commit")

    with pytest.raises(ServiceUnavailable):
        place_order(cart_id)

    order = only_order()
    saga = saga_of(order.id)
    assert (saga.state, saga.step, order.status) == ("running", "commit", "pending")
    assert fakes.payments.charge_of(order.id).status == Charge.APPROVED
    assert cart_status(cart_id) == "open"
    with pytest.raises(NotFound):  # a pending order does not exist for callers
        get_order(order.id)


def test_a_commit_refused_because_the_hold_expired_refunds_and_fails(fakes):
    cart_id = make_cart({fakes.product(1): 2})
    fakes.inventory.expire_before_commit = True

    with pytest.raises(ServiceUnavailable):
        place_order(cart_id)

    order = only_order()
    assert (order.status, saga_of(order.id).state) == ("failed", "failed")
    assert fakes.payments.charge_of(order.id).status == Charge.REFUNDED
    assert fakes.inventory.stock[1] == 100
    assert cart_status(cart_id) == "open"


# --- retries ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["Reserve", "CreateCharge", "Commit"])
def test_a_call_retried_after_a_lost_answer_reserves_and_charges_once(fakes, method):
    cart_id = make_cart({fakes.product(1): 2})
    fake = fakes.payments if method == "CreateCharge" else fakes.inventory
    fake.fail(method, lost=True, times=1)  # done, answer lost; the channel sends it again

    order = place_order(cart_id).order

    assert order.status == "confirmed"
    if method == "CreateCharge":
        key, expected = "idempotency_key", f"charge-{order.id}"
    else:
        key, expected = "reservation_id", str(saga_of(order.id).id)
    assert [getattr(request, key) for request in fake.requests[method]] == [expected, expected]
    assert len(fakes.payments.charges) == 1
    assert fakes.inventory.stock[1] == 98


# --- idempotency -----------------------------------------------------------------------------
def test_the_same_key_and_request_answer_the_same_order_replayed_once(fakes):
    cart_id = make_cart({fakes.product(1): 3})

    first = place_order(cart_id, idempotency_key="key-1")
    replay = place_order(cart_id, idempotency_key="key-1")

    assert (replay.order, replay.replayed, first.replayed) == (first.order, True, False)
    assert fakes.payments.calls["CreateCharge"] == 1
    assert fakes.inventory.calls["Reserve"] == 1
    assert fakes.inventory.stock[1] == 97


def test_the_same_key_with_another_request_is_idempotency_key_reused(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    place_order(cart_id, email="first@example.com", idempotency_key="key-1")

    with pytest.raises(IdempotencyKeyReused):
        place_order(cart_id, email="second@example.com", idempotency_key="key-1")

    assert fakes.payments.calls["CreateCharge"] == 1


def test_a_failed_checkout_gives_its_key_up_for_a_new_attempt(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    with pytest.raises(PaymentDeclined):
        place_order(cart_id, payment_token="tok_chargeDeclined", idempotency_key="key-1")

    again = place_order(cart_id, payment_token="tok_visa", idempotency_key="key-1")

    assert (again.order.status, again.replayed) == ("confirmed", False)


def test_a_replay_while_the_first_checkout_runs_waits_for_it_and_answers_its_order(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    charging = fakes.payments.hold("CreateCharge")
    first = InThread(place_order, cart_id, idempotency_key="key-1")
    first.start()
    wait_until(lambda: fakes.payments.calls["CreateCharge"] == 1)

    replay = InThread(place_order, cart_id, idempotency_key="key-1")
    replay.start()
    replay.join(0.3)
    assert replay.is_alive()  # waiting for the first
    charging.set()

    first_answer, replay_answer = first.result(), replay.result()
    assert replay_answer.order == first_answer.order
    assert (first_answer.replayed, replay_answer.replayed) == (False, True)
    assert fakes.payments.calls["CreateCharge"] == 1


def test_a_replay_of_a_checkout_stuck_on_a_service_is_service_unavailable(fakes, settings):
    cart_id = make_cart({fakes.product(1): 1})
    fakes.payments.fail("CreateCharge")
    with pytest.raises(ServiceUnavailable):
        place_order(cart_id, idempotency_key="key-1")
    settings.SHOP_GRPC_TIMEOUT = 0.2  # the replay waits a few deadlines for the saga to end

    with pytest.raises(ServiceUnavailable):
        place_order(cart_id, idempotency_key="key-1")

    assert saga_of(only_order().id).state == "running"  # the one checkout, still stuck
    assert fakes.payments.calls["CreateCharge"] == 3  # the first call's attempts, no more


def test_a_second_checkout_of_a_cart_being_checked_out_waits_then_is_cart_closed(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    charging = fakes.payments.hold("CreateCharge")
    first = InThread(place_order, cart_id)
    first.start()
    wait_until(lambda: fakes.payments.calls["CreateCharge"] == 1)

    second = InThread(place_order, cart_id)
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waiting for the first
    with pytest.raises(CartClosed):  # nor can the cart change while its order is placed
        call(
            "AddCartItem",
            orders_pb2.AddCartItemRequest(cart_id=str(cart_id), product_id=1, quantity=1),
        )
    charging.set()

    assert first.result().order.status == "confirmed"
    with pytest.raises(CartClosed):
        second.result()
    assert len(fakes.payments.charges) == 1
    assert fakes.inventory.stock[1] == 99


def test_a_checkout_waiting_for_one_that_is_declined_goes_ahead(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    charging = fakes.payments.hold("CreateCharge")
    declined = InThread(place_order, cart_id, payment_token="tok_chargeDeclined")
    declined.start()
    wait_until(lambda: fakes.payments.calls["CreateCharge"] == 1)
    second = InThread(place_order, cart_id, payment_token="tok_visa")
    second.start()
    second.join(0.3)
    charging.set()

    with pytest.raises(PaymentDeclined):
        declined.result()
    assert second.result().order.status == "confirmed"
    assert fakes.inventory.stock[1] == 99


def test_a_checkout_of_a_cart_whose_checkout_is_stuck_is_service_unavailable(fakes, settings):
    cart_id = make_cart({fakes.product(1): 1})
    fakes.payments.fail("CreateCharge")
    with pytest.raises(ServiceUnavailable):
        place_order(cart_id)
    settings.SHOP_GRPC_TIMEOUT = 0.2  # the second waits a few deadlines for the first

    with pytest.raises(ServiceUnavailable):
        place_order(cart_id)

    assert Order.objects.count() == 1
    assert fakes.payments.calls["CreateCharge"] == 3  # the first call's attempts, no more


def test_checkouts_of_one_cart_with_one_key_at_once_place_one_order(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    attempts = [InThread(place_order, cart_id, idempotency_key="key-1") for _ in range(4)]
    for attempt in attempts:
        attempt.start()

    answers = [attempt.result() for attempt in attempts]

    assert len({answer.order.id for answer in answers}) == 1
    assert sorted(answer.replayed for answer in answers) == [False, True, True, True]
    assert len(fakes.payments.charges) == 1
    assert CheckoutSaga.objects.count() == 1
