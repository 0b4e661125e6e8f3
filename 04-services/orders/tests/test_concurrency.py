"""Many buyers at once for little stock, through the real orders servicer and its saga (the
inventory and payments are fakes with a lock, as the real ones have row locks and unique
keys): exactly the stock there is gets sold, and the approved charges are exactly the
confirmed orders' (the inventory service's own tests race the real Reserve; the contract
suite races the whole stage over HTTP)."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from chassis.errors import OutOfStock
from shop.payments.v1 import payments_pb2

from orders.models import Order

from .conftest import make_cart, place_order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("orders_server")]

Charge = payments_pb2.Charge


def test_ten_concurrent_checkouts_for_three_units_confirm_three_and_charge_three(fakes):
    product = fakes.product(7, price_cents=1500, stock=3)
    carts = [make_cart({product: 1}) for _ in range(10)]

    def buy(cart_id) -> str:
        try:
            return place_order(cart_id).order.id
        except OutOfStock:
            return "out_of_stock"

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(buy, carts))

    sold = {outcome for outcome in outcomes if outcome != "out_of_stock"}
    assert len(sold) == 3 and outcomes.count("out_of_stock") == 7
    confirmed = {
        str(order_id)
        for order_id in Order.objects.filter(status="confirmed").values_list("id", flat=True)
    }
    assert confirmed == sold
    approved = {
        charge.order_id
        for charge in fakes.payments.charges.values()
        if charge.status == Charge.APPROVED
    }
    assert approved == confirmed
    assert (
        sum(
            charge.amount_cents
            for charge in fakes.payments.charges.values()
            if charge.status == Charge.APPROVED
        )
        == 3 * 1500
    )
    assert fakes.inventory.stock[product] == 0
