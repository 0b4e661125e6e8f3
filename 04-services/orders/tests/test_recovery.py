"""The recovery: a checkout whose process died between two steps is driven to an end,
forward when a charge was approved, back when not; twice, or two at once, changes nothing
more; and a charge still on its way when the recovery gives its checkout up takes nothing
when it lands (the recovery voids the charge's key first), whether its request is dead or
alive.

A crash is simulated by raising Crash (a BaseException, which nothing in the service
catches) at a chosen point of a checkout run in the test's thread: what was committed to
the database until then stays, the rest never happens, as when the process is killed.
"""

import io
import os
import signal
import threading
from collections import Counter

import pytest
from chassis import outbox, telemetry
from chassis.errors import ServiceUnavailable
from django.core.management import call_command
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from shop.inventory.v1 import inventory_pb2
from shop.payments.v1 import payments_pb2

from orders import checkout, remote, sagas
from orders.models import Cart, CheckoutSaga, Order

from .conftest import (
    CALL_TIMEOUT,
    InThread,
    events,
    make_cart,
    only_order,
    place_order,
    saga_of,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)  # the fakes answer from their threads

Reservation = inventory_pb2.Reservation
Charge = payments_pb2.Charge


class Crash(BaseException):
    """The process dies here."""


def crash_at(patch: pytest.MonkeyPatch, module, name: str, *, after: bool = False) -> None:
    """Make `module.name` kill the checkout when called (after doing its work, with after)."""
    real = getattr(module, name)

    def crashing(*args, **kwargs):
        if after:
            real(*args, **kwargs)
        raise Crash(name)

    patch.setattr(module, name, crashing)


def crashed_checkout(monkeypatch, cart_id, *, module, name, after=False, token="tok_visa"):
    with monkeypatch.context() as patch:
        crash_at(patch, module, name, after=after)
        with pytest.raises(Crash):
            checkout.place_order(cart_id=cart_id, email="ada@example.com", payment_token=token)
    return Order.objects.get(cart_id=cart_id)


def assert_nothing_charged_without_a_confirmed_order(fakes) -> None:
    approved = {
        charge.order_id
        for charge in fakes.payments.charges.values()
        if charge.status == Charge.APPROVED
    }
    confirmed = {
        str(id) for id in Order.objects.filter(status="confirmed").values_list("id", flat=True)
    }
    assert approved == confirmed


# --- crashes between steps -------------------------------------------------------------------
CRASHES = {
    # where the process dies: (module, function, after it did its work?, token), how it ends
    "before the charge": ((remote, "create_charge", False, "tok_visa"), "failed"),
    "after the charge, before writing it down": (
        (remote, "create_charge", True, "tok_visa"),
        "confirmed",
    ),
    "before the commit": ((remote, "commit", False, "tok_visa"), "confirmed"),
    "after the commit": ((remote, "commit", True, "tok_visa"), "confirmed"),
    "in the confirming transaction": ((outbox, "record", False, "tok_visa"), "confirmed"),
    "while going back from a decline": ((remote, "release", False, "tok_chargeDeclined"), "failed"),
}


@pytest.mark.parametrize("crash", CRASHES.values(), ids=CRASHES.keys())
def test_a_saga_left_by_a_crash_is_ended_forward_if_charged_and_back_if_not(
    fakes, monkeypatch, crash
):
    (module, name, after, token), end = crash
    cart_id = make_cart({fakes.product(1): 2})
    order = crashed_checkout(
        monkeypatch, cart_id, module=module, name=name, after=after, token=token
    )
    assert (order.status, saga_of(order.id).state in CheckoutSaga.UNFINISHED) == ("pending", True)

    outcomes = sagas.recover_sagas(older_than_seconds=0)

    order.refresh_from_db()
    saga = saga_of(order.id)
    assert outcomes == {end: 1}
    assert (order.status, saga.state, saga.step) == (end, end, "done")
    reservation = fakes.inventory.reservations[str(saga.id)]
    if end == "confirmed":
        assert reservation.status == Reservation.COMMITTED
        assert fakes.inventory.stock[1] == 98
        assert Cart.objects.get(id=cart_id).status == "checked_out"
        assert [event["aggregate_id"] for event in events("order.confirmed")] == [str(order.id)]
    else:
        assert reservation.status == Reservation.RELEASED
        assert fakes.inventory.stock[1] == 100
        assert Cart.objects.get(id=cart_id).status == "open"
        assert events("order.confirmed") == []
        assert fakes.payments.charge_of(order.id).status in (Charge.VOIDED, Charge.DECLINED)
    assert len(fakes.payments.charges) == 1  # the key's one charge, or its void
    assert_nothing_charged_without_a_confirmed_order(fakes)


def test_recovering_again_changes_nothing(fakes, monkeypatch):
    crashed_checkout(monkeypatch, make_cart({fakes.product(1): 2}), module=remote, name="commit")
    sagas.recover_sagas(older_than_seconds=0)
    calls = fakes.inventory.calls + fakes.payments.calls

    assert sagas.recover_sagas(older_than_seconds=0) == {}
    assert fakes.inventory.calls + fakes.payments.calls == calls
    assert len(events("order.confirmed")) == 1


def test_the_recovery_is_a_trace_of_its_own_linked_to_the_checkout_that_crashed(fakes, monkeypatch):
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # OTel allows one provider per process
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    finished = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(finished))
    with telemetry.tracer.start_as_current_span("checkout request") as request:
        order = crashed_checkout(
            monkeypatch, make_cart({fakes.product(1): 2}), module=remote, name="commit"
        )

    assert sagas.recover_sagas(older_than_seconds=0) == {"confirmed": 1}

    [recovery] = [span for span in finished.get_finished_spans() if span.name == "recover saga"]
    assert recovery.parent is None  # new work, not a late child of the request
    assert [link.context.trace_id for link in recovery.links] == [
        request.get_span_context().trace_id
    ]
    assert recovery.attributes["shop.order.id"] == str(order.id)


def test_a_saga_that_moved_recently_is_left_alone(fakes, monkeypatch):
    order = crashed_checkout(
        monkeypatch, make_cart({fakes.product(1): 2}), module=remote, name="commit"
    )

    assert sagas.recover_sagas(older_than_seconds=60) == {}
    assert saga_of(order.id).state == "running"


def test_a_service_still_down_leaves_the_saga_for_the_next_round(fakes, monkeypatch):
    order = crashed_checkout(
        monkeypatch, make_cart({fakes.product(1): 2}), module=remote, name="commit"
    )
    fakes.inventory.fail("Commit")

    assert sagas.recover_sagas(older_than_seconds=0) == {"left": 1}
    saga = saga_of(order.id)
    assert (saga.state, saga.step) == ("running", "commit")
    assert saga.last_error.startswith("service_unavailable")

    fakes.heal()
    assert sagas.recover_sagas(older_than_seconds=0) == {"confirmed": 1}


def test_inventory_down_at_commit_then_the_recovery_confirms_the_order(fakes, orders_server):
    cart_id = make_cart({fakes.product(1): 2})
    fakes.inventory.fail("Commit")
    with pytest.raises(ServiceUnavailable):
        place_order(cart_id)
    fakes.heal()

    assert sagas.recover_sagas(older_than_seconds=0) == {"confirmed": 1}
    assert only_order().status == "confirmed"
    assert len(events("order.confirmed")) == 1
    assert fakes.payments.calls["CreateCharge"] == 1
    assert_nothing_charged_without_a_confirmed_order(fakes)


def test_payments_down_at_charge_then_the_recovery_voids_the_charge_and_goes_back(
    fakes, orders_server
):
    cart_id = make_cart({fakes.product(1): 2})
    fakes.payments.fail("CreateCharge")
    with pytest.raises(ServiceUnavailable):
        place_order(cart_id)
    fakes.heal()

    assert sagas.recover_sagas(older_than_seconds=0) == {"failed": 1}
    order = only_order()
    assert fakes.payments.charge_of(order.id).status == Charge.VOIDED
    assert [request.idempotency_key for request in fakes.payments.requests["VoidCharge"]] == [
        f"charge-{order.id}"
    ] * 2  # the recovery's decision, then going back's own (idempotent)
    assert fakes.inventory.stock[1] == 100
    assert Cart.objects.get(id=cart_id).status == "open"
    assert place_order(cart_id).order.status == "confirmed"  # the cart can be paid again


def test_a_charge_whose_answer_was_lost_is_found_by_the_recovery_and_confirmed(
    fakes, orders_server
):
    cart_id = make_cart({fakes.product(1): 2})
    fakes.payments.fail("CreateCharge", lost=True)  # charged; every answer lost
    with pytest.raises(ServiceUnavailable):
        place_order(cart_id)
    fakes.heal()

    assert sagas.recover_sagas(older_than_seconds=0) == {"confirmed": 1}
    assert len(fakes.payments.charges) == 1
    assert_nothing_charged_without_a_confirmed_order(fakes)


def test_two_recoveries_at_once_end_each_saga_once(fakes, monkeypatch):
    fakes.product(1)
    for _ in range(6):
        crashed_checkout(monkeypatch, make_cart({1: 1}), module=remote, name="commit")

    rounds = [InThread(sagas.recover_sagas, older_than_seconds=0) for _ in range(2)]
    for recovery in rounds:
        recovery.start()
    outcomes = sum((recovery.result() for recovery in rounds), start=Counter())

    assert outcomes["confirmed"] == 6
    assert Order.objects.filter(status="confirmed").count() == 6
    assert len(events("order.confirmed")) == 6
    assert fakes.inventory.stock[1] == 94
    assert_nothing_charged_without_a_confirmed_order(fakes)


# --- a charge on its way while the recovery decides ----------------------------------------
def test_a_charge_landing_after_the_recovery_gave_up_its_dead_checkout_takes_nothing(
    fakes, monkeypatch
):
    """The gap VoidCharge closes. The request sent its CreateCharge and died while the call
    was on its way; the recovery gives the checkout up; then the charge lands, with nobody
    left to refund it. Had the recovery only asked (GetCharge: "none yet"), the money would
    be taken for a failed order."""
    cart_id = make_cart({fakes.product(1): 2})
    charging = fakes.payments.hold("CreateCharge")
    charge = remote.create_charge

    def charge_and_die(*args, **kwargs):
        charge(*args, **kwargs)
        raise Crash("create_charge")  # whatever it answers, nobody is there to act on it

    monkeypatch.setattr(remote, "create_charge", charge_and_die)
    dying = InThread(
        checkout.place_order, cart_id=cart_id, email="ada@example.com", payment_token="tok_visa"
    )
    dying.start()
    wait_until(lambda: fakes.payments.calls["CreateCharge"] == 1)

    assert sagas.recover_sagas(older_than_seconds=0) == {"failed": 1}
    charging.set()  # the charge lands now
    with pytest.raises(Crash):
        dying.result()

    order = only_order()
    assert (order.status, saga_of(order.id).state) == ("failed", "failed")
    assert fakes.payments.charge_of(order.id).status == Charge.VOIDED
    assert fakes.payments.calls["RefundCharge"] == 0  # nothing was taken: nothing to give back
    assert fakes.inventory.stock[1] == 100
    assert Cart.objects.get(id=cart_id).status == "open"
    assert_nothing_charged_without_a_confirmed_order(fakes)


def test_a_live_checkout_overtaken_by_the_recovery_has_its_late_charge_voided(fakes, orders_server):
    cart_id = make_cart({fakes.product(1): 2})
    charging = fakes.payments.hold("CreateCharge")
    live = InThread(place_order, cart_id)
    live.start()
    wait_until(lambda: fakes.payments.calls["CreateCharge"] == 1)

    # The live request looks stuck: the recovery voids the charge's key and goes back.
    assert sagas.recover_sagas(older_than_seconds=0) == {"failed": 1}
    charging.set()  # ... then the charge arrives after all, and answers the void

    with pytest.raises(ServiceUnavailable):  # the recovery has the saga: the request leaves it
        live.result()
    order = only_order()
    saga = saga_of(order.id)
    assert (order.status, saga.state) == ("failed", "failed")
    assert saga.last_error == "recovery: no approved charge"  # the live request wrote nothing
    assert fakes.payments.charge_of(order.id).status == Charge.VOIDED
    assert fakes.payments.calls["RefundCharge"] == 0
    assert fakes.inventory.stock[1] == 100
    assert_nothing_charged_without_a_confirmed_order(fakes)


def test_a_live_checkout_still_driving_when_its_charge_answers_voided_goes_back_itself(
    fakes, orders_server, monkeypatch
):
    """The recovery has voided the key but not yet moved the saga when the live charge
    answers VOIDED: the live request is still the saga's driver, so it goes back (never
    forward), and the recovery, finding the saga moved, leaves it."""
    cart_id = make_cart({fakes.product(1): 2})
    charging = fakes.payments.hold("CreateCharge")
    live = InThread(place_order, cart_id)
    live.start()
    wait_until(lambda: fakes.payments.calls["CreateCharge"] == 1)
    void_charge = remote.void_charge

    def void_then_let_the_live_checkout_finish(saga):
        voided = void_charge(saga)
        monkeypatch.setattr(remote, "void_charge", void_charge)  # the live one's is plain
        charging.set()
        live.join(CALL_TIMEOUT)
        return voided

    monkeypatch.setattr(remote, "void_charge", void_then_let_the_live_checkout_finish)

    assert sagas.recover_sagas(older_than_seconds=0) == {"left": 1}
    with pytest.raises(ServiceUnavailable):
        live.result()
    order = only_order()
    saga = saga_of(order.id)
    assert (order.status, saga.state) == ("failed", "failed")
    assert saga.last_error == f"service_unavailable: {sagas.VOIDED}"  # the live one's
    assert fakes.payments.charge_of(order.id).status == Charge.VOIDED
    assert fakes.inventory.stock[1] == 100
    assert_nothing_charged_without_a_confirmed_order(fakes)


def test_a_recovery_that_cannot_void_leaves_the_saga_to_the_live_checkout(fakes, orders_server):
    cart_id = make_cart({fakes.product(1): 2})
    charging = fakes.payments.hold("CreateCharge")
    live = InThread(place_order, cart_id)
    live.start()
    wait_until(lambda: fakes.payments.calls["CreateCharge"] == 1)
    fakes.payments.fail("VoidCharge")

    assert sagas.recover_sagas(older_than_seconds=0) == {"left": 1}  # undecided: untouched
    charging.set()

    assert live.result().order.status == "confirmed"
    assert fakes.payments.charge_of(only_order().id).status == Charge.APPROVED
    assert fakes.inventory.stock[1] == 98
    assert_nothing_charged_without_a_confirmed_order(fakes)


# --- the command -----------------------------------------------------------------------------
def test_the_command_recovers_once_and_says_what_it_did(fakes, monkeypatch):
    crashed_checkout(monkeypatch, make_cart({fakes.product(1): 2}), module=remote, name="commit")
    out = io.StringIO()

    call_command("recover_sagas", "--older-than", "0", stdout=out)

    assert out.getvalue() == "recover_sagas: confirmed=1\n"
    assert only_order().status == "confirmed"


def test_the_command_loops_until_sigterm(fakes, monkeypatch):
    crashed_checkout(monkeypatch, make_cart({fakes.product(1): 2}), module=remote, name="commit")
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    try:
        call_command("recover_sagas", "--loop", "--interval", "0.1", "--older-than", "0")
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)

    assert only_order().status == "confirmed"
