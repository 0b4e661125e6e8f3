"""Check of exercise 04-saga-step: the checkout saga has a step "price" between the reservation
and the charge. It reads the catalog's prices again; if one changed since the order was
priced, the checkout fails with invalid_state and the reservation is released (nothing is
charged). The saga writes the step down (`sagas.move`) before it makes the call, and the new
step comes with its migration.

The saga runs in the test's thread (`checkout.place_order`), against the orders tests' fakes
(tests/fakes.py) on an in-process gRPC server, as tests/test_recovery.py drives it.
"""

import io
import logging
import re
from collections.abc import Callable

import pytest
from chassis.errors import PaymentDeclined, ServiceUnavailable, ShopError
from chassis.testing import django_db_modify_db_settings, running_server  # noqa: F401 (a fixture)
from django.core.management import call_command
from orders import checkout, orders, remote
from orders.models import Cart, CheckoutSaga, OrderLine
from orders.tests.fakes import FakeInventory, Fakes
from shop.inventory.v1 import inventory_pb2
from shop.payments.v1 import payments_pb2

pytestmark = pytest.mark.django_db

Reservation = inventory_pb2.Reservation
Charge = payments_pb2.Charge
MOVED = re.compile(r"event=saga_moved saga=(\S+) order=\S+ state=(\S+) step=(\S+)")
PRICE = 1000


class ScriptedInventory(FakeInventory):
    """The fake inventory, which also runs `after_reserve` once a Reserve has held the stock:
    what the rest of the world does while the saga is between its reservation and its next
    step."""

    def __init__(self) -> None:
        super().__init__()
        self.after_reserve: Callable[[], None] = lambda: None

    def Reserve(self, request, context):  # noqa: N802 (gRPC's method names)
        reservation = super().Reserve(request, context)
        self.after_reserve()
        return reservation


@pytest.fixture
def fakes(settings):
    fakes = Fakes()
    fakes.inventory = ScriptedInventory()
    with running_server(fakes.register) as target:
        settings.SHOP_GRPC_TARGETS = {
            **settings.SHOP_GRPC_TARGETS,
            **{service: target for service in ("catalog", "inventory", "payments")},
        }
        yield fakes


@pytest.fixture
def steps(caplog) -> Callable[[], list[tuple[str, str]]]:
    """The (state, step) pairs the saga was moved to, in order, read from its log events
    (`sagas.move` logs each: event=saga_moved ... state=running step=charge)."""
    caplog.set_level(logging.INFO, logger="orders.sagas")
    return lambda: [match.group(2, 3) for match in map(MOVED.search, caplog.messages) if match]


def a_cart(fakes) -> tuple[object, int]:
    """An open cart of 2 units of a product of the fakes at PRICE cents, and the product."""
    product = fakes.product(1, price_cents=PRICE, stock=10)
    cart = Cart.objects.create()
    cart.items.create(product_id=product, quantity=2)
    return cart.id, product


def check_out(cart_id, *, payment_token: str = "tok_visa") -> orders.PlacedOrder:
    order, _replayed = checkout.place_order(
        cart_id=cart_id, email="ada@example.com", payment_token=payment_token
    )
    return order


def failed_check_out(cart_id, why: str) -> ShopError:
    """The error a checkout that must fail raised."""
    try:
        order = check_out(cart_id)
    except ShopError as error:
        return error
    pytest.fail(f"the checkout ended '{order.status}', but {why}")


def the_saga() -> CheckoutSaga:
    (saga,) = CheckoutSaga.objects.select_related("order")
    return saga


def assert_went_back_with_nothing_held_or_charged(fakes, product: int) -> CheckoutSaga:
    saga = the_saga()
    assert (saga.state, saga.order.status) == ("failed", "failed"), (
        f"the saga ended {saga.state!r} with the order {saga.order.status!r}; expected both "
        "'failed' (go back at once: release the reservation, fail the order)"
    )
    reservation = fakes.inventory.reservations.get(str(saga.id))
    assert reservation is not None and reservation.status == Reservation.RELEASED, (
        "the reservation was not released: a failure after the reservation must give the "
        "stock back (remote.release, through sagas.go_back)"
    )
    assert fakes.inventory.stock[product] == 10, "the stock held for the order did not come back"
    assert fakes.payments.calls["CreateCharge"] == 0, (
        "the payments service was asked to charge: the price step comes before the charge, "
        "and a checkout it stops charges nothing"
    )
    assert Cart.objects.get(pk=saga.order.cart_id).status == "open", "the cart must stay open"
    return saga


def test_a_checkout_still_confirms_and_its_saga_passes_through_the_price_step(fakes, steps):
    cart_id, product = a_cart(fakes)

    order = check_out(cart_id)

    assert order.status == "confirmed", f"the happy path must still confirm: '{order.status}'"
    moved = steps()
    assert ("running", "price") in moved, (
        f"the saga was never moved to step 'price': {moved}; add Step.PRICE to "
        "CheckoutSaga.Step and write it down with sagas.move(saga, step=Step.PRICE) before "
        "asking the catalog"
    )
    forward = [step for state, step in moved if state == "running"]
    assert forward[:2] == ["price", "charge"], (
        f"the saga's steps forward were {forward}; expected the price step right after the "
        "reservation, before the charge"
    )
    charge = fakes.payments.charge_of(order.id)
    assert (charge.status, charge.amount_cents) == (Charge.APPROVED, 2 * PRICE)
    assert fakes.inventory.reservations[str(the_saga().id)].status == Reservation.COMMITTED


def test_the_price_step_is_written_down_before_the_catalog_is_asked(fakes, monkeypatch):
    cart_id, _ = a_cart(fakes)
    asked_at = []  # the saga's step each time remote.products was called (None: no saga yet)
    read_prices = remote.products

    def products(product_ids):
        asked_at.append(CheckoutSaga.objects.values_list("step", flat=True).first())
        return read_prices(product_ids)

    monkeypatch.setattr(remote, "products", products)

    check_out(cart_id)

    assert asked_at[1:] == ["price"], (
        f"remote.products was called with the saga at steps {asked_at} (None: before the "
        "saga existed); expected [None, 'price']: the order is priced, then the price step "
        "is written down (sagas.move) before the catalog is asked again, so that whoever "
        "finds the saga after a crash knows what it was doing"
    )


def test_a_price_changed_after_the_reservation_fails_the_checkout_with_invalid_state(fakes):
    cart_id, product = a_cart(fakes)
    fakes.inventory.after_reserve = lambda: fakes.catalog.add(product, price_cents=PRICE + 250)

    error = failed_check_out(cart_id, "the price changed after the reservation")

    assert error.code == "invalid_state", (
        f"a price that changed during the checkout must fail it with invalid_state, not "
        f"{error.code} ({error.message})"
    )
    saga = assert_went_back_with_nothing_held_or_charged(fakes, product)
    assert saga.last_error.startswith("invalid_state"), (
        f"the saga's last_error is {saga.last_error!r}; expected the invalid_state error"
    )
    line = OrderLine.objects.get(order=saga.order)
    assert line.unit_price_cents == PRICE, "the order keeps the price it was placed at"


def test_an_unchanged_price_is_not_a_failure_even_when_the_cart_has_several_lines(fakes):
    cart_id, _ = a_cart(fakes)
    cart = Cart.objects.get(pk=cart_id)
    cart.items.create(product_id=fakes.product(2, price_cents=350), quantity=3)
    # Another product's price changes: not one of this order's.
    fakes.inventory.after_reserve = lambda: fakes.catalog.add(3, price_cents=99)

    order = check_out(cart_id)

    assert order.status == "confirmed", (
        f"the prices of the order's lines did not change, yet the checkout ended '{order.status}'"
    )
    assert fakes.catalog.calls["BatchGetProducts"] >= 2, (
        "the catalog was asked for prices only once (when the order was priced): the price "
        "step reads them again after the reservation"
    )


def test_the_catalog_down_at_the_price_step_releases_the_stock_at_once(fakes):
    cart_id, product = a_cart(fakes)
    fakes.inventory.after_reserve = lambda: fakes.catalog.fail("BatchGetProducts")

    error = failed_check_out(cart_id, "the catalog was down after the reservation")

    assert isinstance(error, ServiceUnavailable), (
        f"the catalog is down: the checkout must fail with service_unavailable, not {error.code}"
    )
    saga = assert_went_back_with_nothing_held_or_charged(fakes, product)
    assert saga.last_error.startswith("service_unavailable"), saga.last_error


def test_a_declined_charge_after_the_price_step_still_releases_the_stock(fakes, steps):
    cart_id, product = a_cart(fakes)

    with pytest.raises(PaymentDeclined):
        check_out(cart_id, payment_token="tok_chargeDeclined")

    assert ("running", "price") in steps(), "the saga never passed through the price step"
    saga = the_saga()
    assert (saga.state, saga.order.status) == ("failed", "failed")
    assert fakes.inventory.reservations[str(saga.id)].status == Reservation.RELEASED
    assert fakes.inventory.stock[product] == 10, "a declined charge must give the stock back"


def test_the_models_and_their_migrations_agree():
    # A field's choices are part of its migration, and no database enforces them: without the
    # migration every test of the step passes, `migrate` warns of unrecorded changes, and the
    # next `makemigrations` folds this change into someone else's.
    planned = io.StringIO()
    try:
        call_command("makemigrations", "orders", check=True, dry_run=True, stdout=planned)
    except SystemExit:
        pytest.fail(
            "the orders models have changes no migration records:\n"
            f"{planned.getvalue()}"
            "make it: cd 04-services && PYTHONPATH=../proto/_generated "
            "../.venv/bin/python -m orders makemigrations orders"
        )
