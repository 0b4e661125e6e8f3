"""Carts over the orders service's gRPC API: lines at current catalog prices (one catalog call
per read), the quantity rules, and the errors API.md names."""

import uuid

import pytest
from chassis.errors import CartClosed, NotFound, ServiceUnavailable, ValidationFailed
from shop.orders.v1 import orders_pb2

from orders import carts
from orders.models import Cart

from .conftest import call, make_cart

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the servicer runs in the server's threads
    pytest.mark.usefixtures("orders_server"),
]


def add(cart_id, product_id: int, quantity: int) -> orders_pb2.Cart:
    request = orders_pb2.AddCartItemRequest(
        cart_id=str(cart_id), product_id=product_id, quantity=quantity
    )
    return call("AddCartItem", request)


def set_quantity(cart_id, product_id: int, quantity: int) -> orders_pb2.Cart:
    request = orders_pb2.SetCartItemQuantityRequest(
        cart_id=str(cart_id), product_id=product_id, quantity=quantity
    )
    return call("SetCartItemQuantity", request)


def remove(cart_id, product_id: int) -> orders_pb2.Cart:
    request = orders_pb2.RemoveCartItemRequest(cart_id=str(cart_id), product_id=product_id)
    return call("RemoveCartItem", request)


def get(cart_id) -> orders_pb2.Cart:
    return call("GetCart", orders_pb2.GetCartRequest(cart_id=str(cart_id)))


def test_a_new_cart_is_open_and_empty():
    cart = call("CreateCart", orders_pb2.CreateCartRequest())

    assert uuid.UUID(cart.id)
    assert (cart.status, list(cart.items), cart.total_cents, cart.currency) == (
        "open",
        [],
        0,
        "EUR",
    )
    assert get(cart.id) == cart


def test_added_products_show_with_their_catalog_name_and_price(fakes):
    lamp, kettle = fakes.product(1, price_cents=1250), fakes.product(2, price_cents=700)
    cart_id = make_cart()

    add(cart_id, lamp, 2)
    cart = add(cart_id, kettle, 1)

    assert list(cart.items) == [
        orders_pb2.Line(
            product_id=lamp,
            sku="T-0001",
            name="Thing 1",
            unit_price_cents=1250,
            quantity=2,
            line_total_cents=2500,
        ),
        orders_pb2.Line(
            product_id=kettle,
            sku="T-0002",
            name="Thing 2",
            unit_price_cents=700,
            quantity=1,
            line_total_cents=700,
        ),
    ]
    assert (cart.total_cents, cart.currency) == (3200, "EUR")


def test_adding_a_product_already_in_the_cart_adds_to_its_quantity(fakes):
    cart_id = make_cart({fakes.product(1): 2})

    cart = add(cart_id, 1, 3)

    assert [(item.product_id, item.quantity) for item in cart.items] == [(1, 5)]


def test_adding_past_99_on_one_line_is_a_validation_error_on_quantity(fakes):
    cart_id = make_cart({fakes.product(1): 98})

    with pytest.raises(ValidationFailed) as raised:
        add(cart_id, 1, 2)

    assert set(raised.value.fields) == {"quantity"}
    assert [item.quantity for item in get(cart_id).items] == [98]


@pytest.mark.parametrize("quantity", [0, -1, 100])
def test_a_quantity_outside_1_to_99_is_a_validation_error_on_quantity(fakes, quantity):
    cart_id = make_cart({fakes.product(1): 1})

    with pytest.raises(ValidationFailed) as added:
        add(cart_id, 1, quantity)
    with pytest.raises(ValidationFailed) as set_:
        set_quantity(cart_id, 1, quantity)

    assert set(added.value.fields) == set(set_.value.fields) == {"quantity"}


def test_a_product_the_catalog_does_not_have_is_a_validation_error_on_product_id(fakes):
    cart_id = make_cart()

    with pytest.raises(ValidationFailed) as raised:
        add(cart_id, 404, 1)

    assert set(raised.value.fields) == {"product_id"}
    assert fakes.catalog.requests["BatchGetProducts"][-1].ids == [404]
    assert list(get(cart_id).items) == []


def test_setting_a_quantity_replaces_it(fakes):
    cart_id = make_cart({fakes.product(1): 2})

    cart = set_quantity(cart_id, 1, 7)

    assert [(item.quantity, item.line_total_cents) for item in cart.items] == [(7, 7000)]


def test_removing_a_product_takes_its_line_out(fakes):
    cart_id = make_cart({fakes.product(1): 2, fakes.product(2): 1})

    cart = remove(cart_id, 1)

    assert [item.product_id for item in cart.items] == [2]


@pytest.mark.parametrize(
    "change", [lambda cart_id: set_quantity(cart_id, 2, 1), lambda cart_id: remove(cart_id, 2)]
)
def test_changing_a_product_not_in_the_cart_is_not_found(fakes, change):
    cart_id = make_cart({fakes.product(1): 1})
    fakes.product(2)

    with pytest.raises(NotFound):
        change(cart_id)


@pytest.mark.parametrize("cart_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_an_unknown_cart_is_not_found(fakes, cart_id):
    fakes.product(1)

    for attempt in (lambda: get(cart_id), lambda: add(cart_id, 1, 1), lambda: remove(cart_id, 1)):
        with pytest.raises(NotFound):
            attempt()


def test_a_checked_out_cart_refuses_every_change(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    fakes.product(2)
    Cart.objects.filter(id=cart_id).update(status=Cart.Status.CHECKED_OUT)

    for change in (
        lambda: add(cart_id, 2, 1),
        lambda: add(cart_id, 1, 1),
        lambda: set_quantity(cart_id, 1, 2),
        lambda: remove(cart_id, 1),
    ):
        with pytest.raises(CartClosed):
            change()
    cart = get(cart_id)
    assert cart.status == "checked_out"
    assert [(item.product_id, item.quantity) for item in cart.items] == [(1, 1)]


def test_a_cart_read_asks_the_catalog_once_whatever_its_size_and_shows_current_prices(fakes):
    cart_id = make_cart({fakes.product(id): 1 for id in range(1, 11)})
    calls_before = fakes.catalog.calls["BatchGetProducts"]

    first = get(cart_id)
    fakes.catalog.add(3, price_cents=2000)  # the catalog changes a price
    second = get(cart_id)

    assert fakes.catalog.calls["BatchGetProducts"] - calls_before == 2
    assert (first.total_cents, second.total_cents) == (10_000, 11_000)
    assert [item.unit_price_cents for item in second.items if item.product_id == 3] == [2000]


def test_an_empty_cart_is_read_without_asking_the_catalog(fakes):
    cart_id = make_cart()

    get(cart_id)

    assert fakes.catalog.calls["BatchGetProducts"] == 0


def test_a_cart_read_while_the_catalog_is_down_is_service_unavailable(fakes):
    cart_id = make_cart({fakes.product(1): 1})
    fakes.catalog.fail("BatchGetProducts")

    with pytest.raises(ServiceUnavailable):
        get(cart_id)


def test_a_cart_read_is_two_queries_and_one_catalog_call_whatever_its_size(
    fakes, django_assert_num_queries
):
    cart_id = make_cart({fakes.product(id): 1 for id in range(1, 21)})

    with django_assert_num_queries(2):
        cart = carts.get(cart_id=cart_id)

    assert len(cart.items) == 20
    assert fakes.catalog.calls["BatchGetProducts"] == 1
