"""Ordering's use cases (checkout, cancellation, carts), against the real database.

Each test calls ordering's api and then reads the tables of every context involved, to
check what the one transaction left behind: not only what was returned, but also what must
not have changed, including the outbox.
"""

import pytest
from catalog import api as catalog_api
from inventory.models import StockLevel
from kernel.errors import CartClosed, NotFound, OutOfStock, PaymentDeclined, ValidationFailed
from messaging.models import OutboxMessage
from ordering import api as ordering_api
from ordering.models import Cart, CartItem, Order, OrderLine
from payments.models import Charge


def stock_of(product) -> int:
    return StockLevel.objects.get(product_id=product.id).available


# --- checkout --------------------------------------------------------------------------------
def test_checkout_takes_the_stock_charges_the_total_and_closes_the_cart(make_product, make_cart):
    kettle = make_product(price_cents=1250, stock=10)
    teapot = make_product(price_cents=799, stock=5)
    cart = make_cart([(kettle, 2), (teapot, 1)])

    order = ordering_api.place_order(
        cart_id=cart.id, email="ada@example.com", payment_token="tok_visa"
    )

    assert order.status == "confirmed"
    assert order.email == "ada@example.com"
    assert order.total_cents == 2 * 1250 + 799
    assert (stock_of(kettle), stock_of(teapot)) == (8, 4)
    charge = Charge.objects.get()
    assert (charge.order_id, charge.amount_cents, charge.status) == (
        order.id,
        order.total_cents,
        Charge.Status.SUCCEEDED,
    )
    assert Cart.objects.get(id=cart.id).status == Cart.Status.CHECKED_OUT


def test_order_lines_keep_the_price_paid_when_the_catalog_price_changes(make_product, make_cart):
    kettle = make_product(price_cents=1250)
    order = ordering_api.place_order(
        cart_id=make_cart([(kettle, 3)]).id, email="ada@example.com", payment_token="tok_visa"
    )

    catalog_api.product_update(product_id=kettle.id, price_cents=9999)

    line = OrderLine.objects.get(order_id=order.id)
    assert (line.product_id, line.unit_price_cents, line.quantity) == (kettle.id, 1250, 3)
    assert (line.sku, line.name) == (kettle.sku, kettle.name)  # a snapshot: no foreign key
    assert ordering_api.order_get(order_id=order.id).total_cents == 3750


def test_checkout_with_insufficient_stock_changes_nothing_and_lists_every_shortage(
    make_product, make_cart
):
    scarce = make_product(stock=1)
    plenty = make_product(stock=100)
    gone = make_product(stock=0)
    cart = make_cart([(scarce, 2), (plenty, 5), (gone, 1)])

    with pytest.raises(OutOfStock) as raised:
        ordering_api.place_order(cart_id=cart.id, email="ada@example.com", payment_token="tok_visa")

    assert raised.value.details == {
        "shortages": [
            {"product_id": scarce.id, "requested": 2, "available": 1},
            {"product_id": gone.id, "requested": 1, "available": 0},
        ]
    }
    assert (stock_of(scarce), stock_of(plenty), stock_of(gone)) == (1, 100, 0)
    assert not Order.objects.exists()
    assert not Charge.objects.exists()
    assert Cart.objects.get(id=cart.id).status == Cart.Status.OPEN


def test_a_declined_payment_changes_nothing_and_charges_nothing(make_product, make_cart):
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 2)])

    with pytest.raises(PaymentDeclined):
        ordering_api.place_order(
            cart_id=cart.id, email="ada@example.com", payment_token="tok_chargeDeclined"
        )

    assert stock_of(kettle) == 10
    assert not Order.objects.exists()
    assert not Charge.objects.exists()
    assert Cart.objects.get(id=cart.id).status == Cart.Status.OPEN


def test_a_checked_out_cart_cannot_be_checked_out_again(make_product, make_cart):
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 1)])
    ordering_api.place_order(cart_id=cart.id, email="ada@example.com", payment_token="tok_visa")

    with pytest.raises(CartClosed):
        ordering_api.place_order(cart_id=cart.id, email="ada@example.com", payment_token="tok_visa")

    assert stock_of(kettle) == 9
    assert Charge.objects.count() == 1


def test_an_empty_cart_cannot_be_checked_out(make_cart):
    with pytest.raises(ValidationFailed) as raised:
        ordering_api.place_order(
            cart_id=make_cart().id, email="ada@example.com", payment_token="tok_visa"
        )

    assert raised.value.fields == {"cart_id": ["The cart is empty."]}


# --- cancellation ----------------------------------------------------------------------------
def test_cancelling_refunds_the_charge_and_returns_the_stock(make_product, make_order):
    kettle = make_product(stock=10)
    order = make_order([(kettle, 4)])

    cancelled = ordering_api.cancel_order(order_id=order.id)

    assert cancelled.status == "cancelled"
    assert Order.objects.get(id=order.id).cancelled_at is not None
    assert stock_of(kettle) == 10
    charge = Charge.objects.get(order_id=order.id)
    assert charge.status == Charge.Status.REFUNDED
    assert charge.refunded_at is not None


def test_cancelling_twice_refunds_and_restocks_once(make_product, make_order):
    kettle = make_product(stock=10)
    order = make_order([(kettle, 4)])
    ordering_api.cancel_order(order_id=order.id)
    cancelled_at = Order.objects.get(id=order.id).cancelled_at
    refunded_at = Charge.objects.get(order_id=order.id).refunded_at

    second = ordering_api.cancel_order(order_id=order.id)

    assert second.status == "cancelled"
    assert Order.objects.get(id=order.id).cancelled_at == cancelled_at
    assert stock_of(kettle) == 10
    assert Charge.objects.get(order_id=order.id).refunded_at == refunded_at
    assert OutboxMessage.objects.filter(event_type="order.cancelled").count() == 1


def test_cancelling_an_unknown_order_is_not_found(db):
    with pytest.raises(NotFound):
        ordering_api.cancel_order(order_id="00000000-0000-0000-0000-000000000000")


# --- carts -----------------------------------------------------------------------------------
def test_adding_a_product_already_in_the_cart_adds_to_its_quantity(make_product, make_cart):
    kettle = make_product()
    cart = make_cart([(kettle, 2)])

    ordering_api.cart_add_item(cart_id=cart.id, product_id=kettle.id, quantity=3)

    assert CartItem.objects.get(cart=cart).quantity == 5


def test_adding_does_not_check_stock(make_product, make_cart):
    sold_out = make_product(stock=0)
    cart = make_cart()

    ordering_api.cart_add_item(cart_id=cart.id, product_id=sold_out.id, quantity=5)

    assert CartItem.objects.get(cart=cart).quantity == 5


def test_a_cart_line_holds_at_most_99(make_product, make_cart):
    kettle = make_product()
    cart = make_cart([(kettle, 90)])
    ordering_api.cart_add_item(cart_id=cart.id, product_id=kettle.id, quantity=9)

    with pytest.raises(ValidationFailed) as raised:
        ordering_api.cart_add_item(cart_id=cart.id, product_id=kettle.id, quantity=1)

    assert list(raised.value.fields) == ["quantity"]
    assert CartItem.objects.get(cart=cart).quantity == 99


def test_adding_an_unknown_product_is_a_validation_error_on_product_id(make_cart):
    with pytest.raises(ValidationFailed) as raised:
        ordering_api.cart_add_item(cart_id=make_cart().id, product_id=999_999, quantity=1)

    assert list(raised.value.fields) == ["product_id"]


@pytest.mark.parametrize(
    "change",
    [
        lambda cart, product: ordering_api.cart_add_item(
            cart_id=cart.id, product_id=product.id, quantity=1
        ),
        lambda cart, product: ordering_api.cart_set_item_quantity(
            cart_id=cart.id, product_id=product.id, quantity=2
        ),
        lambda cart, product: ordering_api.cart_remove_item(cart_id=cart.id, product_id=product.id),
    ],
    ids=["add", "set quantity", "remove"],
)
def test_a_checked_out_cart_cannot_change(make_product, make_cart, change):
    kettle = make_product()
    cart = make_cart([(kettle, 1)])
    ordering_api.place_order(cart_id=cart.id, email="ada@example.com", payment_token="tok_visa")

    with pytest.raises(CartClosed):
        change(cart, kettle)

    assert CartItem.objects.get(cart=cart).quantity == 1


def test_changing_a_product_that_is_not_in_the_cart_is_not_found(make_product, make_cart):
    cart = make_cart()
    kettle = make_product()

    with pytest.raises(NotFound):
        ordering_api.cart_set_item_quantity(cart_id=cart.id, product_id=kettle.id, quantity=2)
    with pytest.raises(NotFound):
        ordering_api.cart_remove_item(cart_id=cart.id, product_id=kettle.id)


# --- events in the outbox --------------------------------------------------------------------
def test_a_confirmed_order_records_its_event_in_the_outbox(make_product, make_cart):
    kettle = make_product(sku="KI-0001", name="Kettle", price_cents=1250)
    cart = make_cart([(kettle, 2)])

    order = ordering_api.place_order(
        cart_id=cart.id, email="ada@example.com", payment_token="tok_visa"
    )

    message = OutboxMessage.objects.get()
    assert (message.event_type, message.aggregate_id, message.published_at) == (
        "order.confirmed",
        str(order.id),
        None,
    )
    assert message.payload["data"] == {
        "order_id": str(order.id),
        "email": "ada@example.com",
        "items": [
            {
                "product_id": kettle.id,
                "sku": "KI-0001",
                "name": "Kettle",
                "unit_price_cents": 1250,
                "quantity": 2,
            }
        ],
        "total_cents": 2500,
    }
    assert message.payload["event_id"] == str(message.event_id)


def test_a_declined_checkout_records_no_event(make_product, make_cart):
    cart = make_cart([(make_product(stock=10), 1)])

    with pytest.raises(PaymentDeclined):
        ordering_api.place_order(
            cart_id=cart.id, email="ada@example.com", payment_token="tok_chargeDeclined"
        )

    assert not OutboxMessage.objects.exists()


def test_cancelling_records_the_cancellation_after_the_confirmation(make_product, make_order):
    order = make_order([(make_product(), 1)])

    ordering_api.cancel_order(order_id=order.id)

    assert list(OutboxMessage.objects.order_by("id").values_list("event_type", flat=True)) == [
        "order.confirmed",
        "order.cancelled",
    ]
