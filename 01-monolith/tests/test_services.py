"""The use cases of shop/services.py, against the real database (SQLite or PostgreSQL).

Each test calls one service and then reads the database, to check what a transaction left
behind: not only what the service returned, but also what it must not have changed.
"""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from shop import services
from shop.errors import CartClosed, NotFound, OutOfStock, PaymentDeclined, ValidationFailed
from shop.models import Cart, CartItem, Category, Charge, Order, Product, StockLevel


def stock_of(product: Product) -> int:
    return StockLevel.objects.get(product=product).available


# --- checkout --------------------------------------------------------------------------------
def test_checkout_takes_the_stock_charges_the_total_and_closes_the_cart(make_product, make_cart):
    kettle = make_product(price_cents=1250, stock=10)
    teapot = make_product(price_cents=799, stock=5)
    cart = make_cart([(kettle, 2), (teapot, 1)])

    order = services.place_order(cart_id=cart.id, email="ada@example.com", payment_token="tok_visa")

    assert order.status == Order.Status.CONFIRMED
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
    order = services.place_order(
        cart_id=make_cart([(kettle, 3)]).id, email="ada@example.com", payment_token="tok_visa"
    )

    services.product_update(product_id=kettle.id, price_cents=9999)

    line = order.lines.get()
    assert (line.product_id, line.unit_price_cents, line.quantity) == (kettle.id, 1250, 3)
    assert Order.objects.get(id=order.id).total_cents == 3750


def test_checkout_with_insufficient_stock_changes_nothing_and_lists_every_shortage(
    make_product, make_cart
):
    scarce = make_product(stock=1)
    plenty = make_product(stock=100)
    gone = make_product(stock=0)
    cart = make_cart([(scarce, 2), (plenty, 5), (gone, 1)])

    with pytest.raises(OutOfStock) as raised:
        services.place_order(cart_id=cart.id, email="ada@example.com", payment_token="tok_visa")

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
        services.place_order(
            cart_id=cart.id, email="ada@example.com", payment_token="tok_chargeDeclined"
        )

    assert stock_of(kettle) == 10
    assert not Order.objects.exists()
    assert not Charge.objects.exists()
    assert Cart.objects.get(id=cart.id).status == Cart.Status.OPEN


def test_a_checked_out_cart_cannot_be_checked_out_again(make_product, make_cart):
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 1)])
    services.place_order(cart_id=cart.id, email="ada@example.com", payment_token="tok_visa")

    with pytest.raises(CartClosed):
        services.place_order(cart_id=cart.id, email="ada@example.com", payment_token="tok_visa")

    assert stock_of(kettle) == 9
    assert Charge.objects.count() == 1


def test_an_empty_cart_cannot_be_checked_out(make_cart):
    with pytest.raises(ValidationFailed) as raised:
        services.place_order(
            cart_id=make_cart().id, email="ada@example.com", payment_token="tok_visa"
        )

    assert raised.value.fields == {"cart_id": ["The cart is empty."]}


# --- idempotent checkout ---------------------------------------------------------------------
def test_place_order_once_replays_the_first_order_for_the_same_key(make_product, make_cart):
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 1)])
    arguments = dict(
        idempotency_key="key-1",
        request_fingerprint="body-a",
        cart_id=cart.id,
        email="ada@example.com",
        payment_token="tok_visa",
    )

    first, first_replayed = services.place_order_once(**arguments)
    again, again_replayed = services.place_order_once(**arguments)

    assert (first_replayed, again_replayed) == (False, True)
    assert again.id == first.id
    assert Charge.objects.count() == 1
    assert stock_of(kettle) == 9


def test_a_failed_checkout_does_not_use_up_its_idempotency_key(make_product, make_cart):
    kettle = make_product(stock=10)
    cart = make_cart([(kettle, 1)])
    arguments = dict(
        idempotency_key="key-1", request_fingerprint="body-a", cart_id=cart.id, email="a@b.example"
    )
    with pytest.raises(PaymentDeclined):
        services.place_order_once(**arguments, payment_token="tok_chargeDeclined")

    order, replayed = services.place_order_once(**arguments, payment_token="tok_visa")

    assert not replayed
    assert order.status == Order.Status.CONFIRMED


# --- cancellation ----------------------------------------------------------------------------
def test_cancelling_refunds_the_charge_and_returns_the_stock(make_product, make_order):
    kettle = make_product(stock=10)
    order = make_order([(kettle, 4)])

    cancelled = services.cancel_order(order_id=order.id)

    assert cancelled.status == Order.Status.CANCELLED
    assert cancelled.cancelled_at is not None
    assert stock_of(kettle) == 10
    charge = Charge.objects.get(order=order)
    assert charge.status == Charge.Status.REFUNDED
    assert charge.refunded_at is not None


def test_cancelling_twice_refunds_and_restocks_once(make_product, make_order):
    kettle = make_product(stock=10)
    order = make_order([(kettle, 4)])
    first = services.cancel_order(order_id=order.id)

    second = services.cancel_order(order_id=order.id)

    assert second.status == Order.Status.CANCELLED
    assert second.cancelled_at == first.cancelled_at
    assert stock_of(kettle) == 10
    assert Charge.objects.get(order=order).refunded_at == first.charge.refunded_at


def test_cancelling_an_unknown_order_is_not_found(db):
    with pytest.raises(NotFound):
        services.cancel_order(order_id="00000000-0000-0000-0000-000000000000")


# --- inventory -------------------------------------------------------------------------------
def test_restock_adds_to_what_is_available(make_product):
    kettle = make_product(stock=3)

    assert services.restock(product_id=kettle.id, quantity=7) == 10
    assert stock_of(kettle) == 10


def test_restocking_an_unknown_product_is_not_found(db):
    with pytest.raises(NotFound):
        services.restock(product_id=999_999, quantity=1)


# --- carts -----------------------------------------------------------------------------------
def test_adding_a_product_already_in_the_cart_adds_to_its_quantity(make_product, make_cart):
    kettle = make_product()
    cart = make_cart([(kettle, 2)])

    services.cart_add_item(cart_id=cart.id, product_id=kettle.id, quantity=3)

    assert CartItem.objects.get(cart=cart).quantity == 5


def test_adding_does_not_check_stock(make_product, make_cart):
    sold_out = make_product(stock=0)
    cart = make_cart()

    services.cart_add_item(cart_id=cart.id, product_id=sold_out.id, quantity=5)

    assert CartItem.objects.get(cart=cart).quantity == 5


def test_a_cart_line_holds_at_most_99(make_product, make_cart):
    kettle = make_product()
    cart = make_cart([(kettle, 90)])
    services.cart_add_item(cart_id=cart.id, product_id=kettle.id, quantity=9)

    with pytest.raises(ValidationFailed) as raised:
        services.cart_add_item(cart_id=cart.id, product_id=kettle.id, quantity=1)

    assert list(raised.value.fields) == ["quantity"]
    assert CartItem.objects.get(cart=cart).quantity == 99


def test_adding_an_unknown_product_is_a_validation_error_on_product_id(make_cart):
    with pytest.raises(ValidationFailed) as raised:
        services.cart_add_item(cart_id=make_cart().id, product_id=999_999, quantity=1)

    assert list(raised.value.fields) == ["product_id"]


@pytest.mark.parametrize(
    "change",
    [
        lambda cart, product: services.cart_add_item(
            cart_id=cart.id, product_id=product.id, quantity=1
        ),
        lambda cart, product: services.cart_set_item_quantity(
            cart_id=cart.id, product_id=product.id, quantity=2
        ),
        lambda cart, product: services.cart_remove_item(cart_id=cart.id, product_id=product.id),
    ],
    ids=["add", "set quantity", "remove"],
)
def test_a_checked_out_cart_cannot_change(make_product, make_cart, change):
    kettle = make_product()
    cart = make_cart([(kettle, 1)])
    services.place_order(cart_id=cart.id, email="ada@example.com", payment_token="tok_visa")

    with pytest.raises(CartClosed):
        change(cart, kettle)

    assert CartItem.objects.get(cart=cart).quantity == 1


def test_changing_a_product_that_is_not_in_the_cart_is_not_found(make_product, make_cart):
    cart = make_cart()
    kettle = make_product()

    with pytest.raises(NotFound):
        services.cart_set_item_quantity(cart_id=cart.id, product_id=kettle.id, quantity=2)
    with pytest.raises(NotFound):
        services.cart_remove_item(cart_id=cart.id, product_id=kettle.id)


# --- catalog ---------------------------------------------------------------------------------
def test_a_new_product_starts_with_no_stock_and_may_create_its_category(db):
    product = services.product_create(
        sku="NEW-0001",
        name="Brand New",
        description="",
        category="brand-new-things",
        price_cents=500,
    )

    assert product.category.slug == "brand-new-things"
    assert Category.objects.filter(slug="brand-new-things").count() == 1
    assert stock_of(product) == 0


def test_a_duplicate_sku_is_a_validation_error_on_sku(make_product):
    make_product(sku="DUP-0001")

    with pytest.raises(ValidationFailed) as raised:
        services.product_create(
            sku="DUP-0001", name="Again", description="", category="kitchen", price_cents=100
        )

    assert list(raised.value.fields) == ["sku"]
    assert Product.objects.filter(sku="DUP-0001").count() == 1


# --- management commands ---------------------------------------------------------------------
def test_seed_demo_is_idempotent(db):
    call_command("seed_demo", stdout=io.StringIO())
    output = io.StringIO()

    call_command("seed_demo", stdout=output)

    assert Product.objects.count() == 246
    assert StockLevel.objects.count() == 246
    assert Category.objects.count() == 7
    assert "0 products created, 246 already there" in output.getvalue()


@pytest.mark.django_db(transaction=True, reset_sequences=True)  # ids from 1, as on a new database
def test_after_seeding_a_new_product_gets_an_id_past_the_demo_ids():
    # seed_demo inserts explicit ids: on PostgreSQL the id sequence must then be moved past
    # them, or the next product would be given a demo product's id and the insert would fail.
    # (SQLite's AUTOINCREMENT looks at the largest id by itself.)
    call_command("seed_demo", stdout=io.StringIO())

    product = services.product_create(
        sku="NEW-0001", name="Brand New", description="", category="books", price_cents=500
    )
    call_command("seed_demo", stdout=io.StringIO())

    assert product.id > 246
    assert Product.objects.count() == 247


def test_ensure_staff_creates_a_staff_user_who_can_log_in(db, settings):
    settings.SHOP_STAFF_USER = "boss"
    settings.SHOP_STAFF_PASSWORD = "s3cret"

    call_command("ensure_staff", stdout=io.StringIO())
    call_command("ensure_staff", stdout=io.StringIO())

    user = get_user_model().objects.get()
    assert (user.username, user.is_staff) == ("boss", True)
    assert user.check_password("s3cret")


def test_ensure_staff_never_changes_an_existing_users_password(db, settings):
    get_user_model().objects.create_user(username="boss", password="changed-since", is_staff=True)
    settings.SHOP_STAFF_USER = "boss"
    settings.SHOP_STAFF_PASSWORD = "s3cret"
    output = io.StringIO()

    call_command("ensure_staff", stdout=output)

    assert get_user_model().objects.get().check_password("changed-since")
    assert "exists, left as it is" in output.getvalue()


def test_ensure_staff_without_a_password_creates_no_user(db, settings):
    settings.SHOP_STAFF_PASSWORD = ""  # production's default: no well-known password
    output = io.StringIO()

    call_command("ensure_staff", stdout=output)

    assert not get_user_model().objects.exists()
    assert "no SHOP_STAFF_PASSWORD" in output.getvalue()
