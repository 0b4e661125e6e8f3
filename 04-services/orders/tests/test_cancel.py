"""CancelOrder over gRPC: refund, stock back, event; idempotent; finished by the next call or
by the recovery when a service was down or the process died half-way."""

import uuid

import pytest
from chassis.errors import NotFound, PaymentDeclined, ServiceUnavailable
from shop.inventory.v1 import inventory_pb2
from shop.orders.v1 import orders_pb2
from shop.payments.v1 import payments_pb2

from orders import orders, remote, sagas
from orders.models import Order

from .conftest import InThread, call, events, make_cart, place_order, saga_of, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the servicer runs in the server's threads
    pytest.mark.usefixtures("orders_server"),
]

Reservation = inventory_pb2.Reservation
Charge = payments_pb2.Charge


def cancel(order_id) -> orders_pb2.Order:
    return call("CancelOrder", orders_pb2.CancelOrderRequest(order_id=str(order_id)))


def confirmed_order(fakes, quantity: int = 3) -> orders_pb2.Order:
    return place_order(make_cart({fakes.product(1): quantity})).order


def assert_cancelled_once(fakes, order: orders_pb2.Order) -> None:
    saga = saga_of(order.id)
    assert (saga.state, saga.step, saga.order.status) == ("cancelled", "done", "cancelled")
    assert fakes.payments.charge_of(order.id).status == Charge.REFUNDED
    assert fakes.inventory.reservations[str(saga.id)].status == Reservation.RETURNED
    assert fakes.inventory.stock[1] == 100
    assert [event["aggregate_id"] for event in events("order.cancelled")] == [order.id]


def test_cancelling_refunds_returns_the_stock_and_records_the_event(fakes):
    order = confirmed_order(fakes)

    cancelled = cancel(order.id)

    expected = orders_pb2.Order()
    expected.CopyFrom(order)
    expected.status = "cancelled"
    assert cancelled == expected
    assert call("GetOrder", orders_pb2.GetOrderRequest(order_id=order.id)) == cancelled
    assert_cancelled_once(fakes, order)
    charge = fakes.payments.charge_of(order.id)
    (refund,) = fakes.payments.requests["RefundCharge"]
    assert (refund.charge_id, refund.idempotency_key) == (charge.charge_id, f"refund-{order.id}")
    (event,) = events("order.cancelled")
    assert (event["data"]["email"], event["data"]["total_cents"]) == (order.email, 3000)


def test_cancelling_twice_answers_the_cancelled_order_and_undoes_once(fakes):
    order = confirmed_order(fakes)
    first = cancel(order.id)

    again = cancel(order.id)

    assert again == first
    assert fakes.payments.calls["RefundCharge"] == 1
    assert fakes.inventory.calls["Release"] == 1
    assert_cancelled_once(fakes, order)


@pytest.mark.parametrize("order_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_an_unknown_order_is_not_found(fakes, order_id):
    with pytest.raises(NotFound):
        cancel(order_id)
    with pytest.raises(NotFound):
        call("GetOrder", orders_pb2.GetOrderRequest(order_id=order_id))


def test_a_failed_checkout_is_no_order_to_cancel(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    with pytest.raises(PaymentDeclined):
        place_order(cart_id, payment_token="tok_chargeDeclined")
    (failed,) = Order.objects.all()

    with pytest.raises(NotFound):
        cancel(failed.id)


def test_a_cancel_with_payments_down_is_finished_by_the_next_cancel(fakes):
    order = confirmed_order(fakes)
    fakes.payments.fail("RefundCharge")

    with pytest.raises(ServiceUnavailable):
        cancel(order.id)
    saga = saga_of(order.id)
    assert (saga.state, saga.step, saga.order.status) == ("cancelling", "refund", "confirmed")
    assert fakes.inventory.stock[1] == 97  # nothing given back before the refund

    fakes.heal()
    assert cancel(order.id).status == "cancelled"
    assert_cancelled_once(fakes, order)


def test_a_cancel_with_inventory_down_is_finished_by_the_recovery(fakes):
    order = confirmed_order(fakes)
    fakes.inventory.fail("Release")

    with pytest.raises(ServiceUnavailable):
        cancel(order.id)
    assert (saga_of(order.id).state, saga_of(order.id).step) == ("cancelling", "release")

    fakes.heal()
    assert sagas.recover_sagas(older_than_seconds=0) == {"cancelled": 1}
    assert_cancelled_once(fakes, order)


def test_a_cancel_cut_short_after_the_refund_is_finished_by_the_recovery(fakes, monkeypatch):
    order = confirmed_order(fakes)

    class Crash(BaseException):
        pass

    def crash(saga):
        raise Crash()

    with monkeypatch.context() as patch:
        patch.setattr(remote, "release", crash)
        with pytest.raises(Crash):
            orders.cancel(order_id=uuid.UUID(order.id))
    assert fakes.payments.charge_of(order.id).status == Charge.REFUNDED

    assert sagas.recover_sagas(older_than_seconds=0) == {"cancelled": 1}
    assert_cancelled_once(fakes, order)


def test_two_cancels_at_once_both_answer_the_cancelled_order(fakes):
    order = confirmed_order(fakes)
    refunding = fakes.payments.hold("RefundCharge")
    first = InThread(cancel, order.id)
    first.start()
    wait_until(lambda: fakes.payments.calls["RefundCharge"] == 1)
    second = InThread(cancel, order.id)
    second.start()
    wait_until(lambda: fakes.payments.calls["RefundCharge"] == 2)
    refunding.set()

    assert first.result().status == second.result().status == "cancelled"
    assert_cancelled_once(fakes, order)
