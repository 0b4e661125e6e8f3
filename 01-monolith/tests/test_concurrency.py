"""Races, with real threads and real transactions: what the row locks of checkout promise.

These tests commit for real (`transaction=True`): a thread has its own database connection
and cannot see data inside another connection's open transaction. On PostgreSQL the threads
really run side by side and wait on row locks (SELECT ... FOR UPDATE). On SQLite the
IMMEDIATE transactions of settings.py make every writer wait for the one before: the promises
hold, but a race there passes with or without the row locks, so the races that are about
the locks run on PostgreSQL only (skipped on SQLite, saying why), and the last test proves
that they fail on a copy of the code without the locks. What the others prove on SQLite is
that writers queue instead of failing with "database is locked".
"""

import inspect
import sys
import threading
import types

import pytest
from django.db import connection
from shop import services
from shop.errors import CartClosed, OutOfStock
from shop.models import Charge, Order, StockLevel

from .clients import ShopClient


def run_at_once(count: int, work) -> list:
    """Call `work(index)` in `count` threads released together; return what each returned or
    raised."""
    barrier = threading.Barrier(count)
    outcomes: list = [None] * count

    def thread_main(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcomes[index] = work(index)
        except Exception as exc:  # kept, for the test to assert on
            outcomes[index] = exc
        finally:
            # Each thread opened its own connection: close it, or the test database could not
            # be flushed after the test, or dropped at the end of the run.
            connection.close()

    threads = [threading.Thread(target=thread_main, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    return outcomes


def stock_of(product) -> int:
    return StockLevel.objects.get(product=product).available


row_locks = pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="about the row locks: SQLite runs one writing transaction at a time (IMMEDIATE), "
    "so the race passes with or without select_for_update(); it proves the locks on "
    "PostgreSQL (DATABASE_URL), where CI runs it",
)


@row_locks
@pytest.mark.django_db(transaction=True)
def test_ten_checkouts_of_the_last_three_units_sell_exactly_three(make_product, make_cart):
    limited = make_product(stock=3)
    carts = [make_cart([(limited, 1)]) for _ in range(10)]

    outcomes = run_at_once(
        10,
        lambda index: services.place_order(
            cart_id=carts[index].id, email=f"buyer{index}@example.com", payment_token="tok_visa"
        ),
    )

    orders = [outcome for outcome in outcomes if isinstance(outcome, Order)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, OutOfStock)]
    assert (len(orders), len(refused)) == (3, 7), (
        f"3 units in stock, 10 buyers: {len(orders)} orders placed and {len(refused)} refused "
        f"as out of stock (oversold by {max(len(orders) - 3, 0)}); outcomes: {outcomes}"
    )
    assert stock_of(limited) == 0
    assert Charge.objects.count() == 3
    assert set(Charge.objects.values_list("order_id", flat=True)) == {o.id for o in orders}


@row_locks
@pytest.mark.django_db(transaction=True)
def test_five_checkouts_of_one_cart_at_once_place_one_order(make_product, make_cart):
    # A double click without an Idempotency-Key: the cart's row lock makes the later
    # checkouts wait, then find the cart checked out.
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 2)])

    outcomes = run_at_once(
        5,
        lambda index: services.place_order(
            cart_id=cart.id, email="ada@example.com", payment_token="tok_visa"
        ),
    )

    assert sum(isinstance(outcome, Order) for outcome in outcomes) == 1, outcomes
    assert sum(isinstance(outcome, CartClosed) for outcome in outcomes) == 4, outcomes
    assert Charge.objects.count() == 1
    assert stock_of(kettle) == 8


@pytest.mark.django_db(transaction=True)
def test_five_requests_with_one_idempotency_key_place_one_order(make_product, make_cart):
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 2)])

    outcomes = run_at_once(
        5,
        lambda index: services.place_order_once(
            idempotency_key="double-click",
            request_fingerprint="the same body",
            cart_id=cart.id,
            email="ada@example.com",
            payment_token="tok_visa",
        ),
    )

    assert all(isinstance(outcome, tuple) for outcome in outcomes), outcomes
    assert len({order.id for order, _ in outcomes}) == 1
    assert sorted(replayed for _, replayed in outcomes) == [False, True, True, True, True]
    assert Order.objects.count() == 1
    assert Charge.objects.count() == 1
    assert stock_of(kettle) == 8


@pytest.mark.django_db(transaction=True)
def test_five_api_calls_with_one_idempotency_key_get_the_same_order(make_product, make_cart):
    cart = make_cart([(make_product(stock=10), 1)])
    body = {"cart_id": str(cart.id), "email": "ada@example.com", "payment_token": "tok_visa"}

    responses = run_at_once(
        5,
        lambda index: ShopClient().post("/api/orders/", body, HTTP_IDEMPOTENCY_KEY="double-click"),
    )

    assert [response.status_code for response in responses] == [201] * 5
    assert len({response.json()["id"] for response in responses}) == 1
    assert sum("Idempotent-Replayed" in response for response in responses) == 4
    assert Charge.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_checkouts_and_cancellations_of_the_same_products_do_not_deadlock(
    make_product, make_cart, make_order
):
    # Both take the stock rows in product order, whatever the order of the lines, so neither
    # can hold one row while waiting for the other's (PostgreSQL would abort one of them
    # with "deadlock detected"). On SQLite: without IMMEDIATE transactions, two of them would
    # both read, then fail to upgrade to a write lock with "database is locked".
    kettle = make_product(stock=100)
    teapot = make_product(stock=100)
    to_cancel = [make_order([(teapot, 1), (kettle, 1)]) for _ in range(4)]
    to_place = [make_cart([(teapot, 1), (kettle, 1)]) for _ in range(4)]

    def work(index: int):
        if index % 2:
            return services.cancel_order(order_id=to_cancel[index // 2].id)
        return services.place_order(
            cart_id=to_place[index // 2].id, email="ada@example.com", payment_token="tok_visa"
        )

    outcomes = run_at_once(8, work)

    assert all(isinstance(outcome, Order) for outcome in outcomes), outcomes
    assert (stock_of(kettle), stock_of(teapot)) == (96, 96)
    assert Order.objects.filter(status=Order.Status.CONFIRMED).count() == 4


def services_without_row_locks() -> types.ModuleType:
    """A copy of shop.services whose place_order takes no row lock: the `.select_for_update()`
    of its cart and stock queries removed. (Should place_order ever lock elsewhere, the copy
    still locks, the races pass on it, and the test below says so.)"""
    source = inspect.getsource(services)
    start = source.index("def place_order(")
    end = source.index("\ndef ", start)
    place_order = source[start:end]
    copy = types.ModuleType("shop.services_without_row_locks")
    copy.__package__ = "shop"
    source = source[:start] + place_order.replace(".select_for_update()", "") + source[end:]
    exec(compile(source, services.__file__, "exec"), copy.__dict__)
    return copy


@row_locks
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "race",
    [
        test_ten_checkouts_of_the_last_three_units_sell_exactly_three,
        test_five_checkouts_of_one_cart_at_once_place_one_order,
    ],
    ids=["stock rows", "cart row"],
)
def test_without_the_row_locks_the_race_fails(race, monkeypatch, make_product, make_cart):
    # Proves the races above can fail: run against a copy of the code without the locks,
    # each must. (Ten threads released together interleave well enough on PostgreSQL to
    # show the race every time: 25 runs out of 25 did, for each race.)
    monkeypatch.setattr(sys.modules[__name__], "services", services_without_row_locks())

    with pytest.raises(AssertionError):  # else: "DID NOT RAISE", the race proves no lock
        race(make_product, make_cart)
