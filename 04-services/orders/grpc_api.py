"""shop.orders.v1.OrdersService: each method unpacks, calls carts/checkout/orders, packs.

No rule lives here. Errors are the domain's (the chassis's `rpc` wrapper turns them into
statuses, with their codes and details: the shortages of out_of_stock reach the gateway as
the inventory service raised them). An id that is not a UUID names nothing: NOT_FOUND, or
INVALID_ARGUMENT on cart_id for a checkout (API.md: a reference inside a body).
"""

import uuid

from chassis.errors import NotFound, ValidationFailed
from chassis.grpc_server import registers, rpc
from chassis.money import CURRENCY
from shop.orders.v1 import orders_pb2, orders_pb2_grpc

from . import carts, checkout, orders


class OrdersServicer(orders_pb2_grpc.OrdersServiceServicer):
    @rpc
    def CreateCart(self, request, context):
        return _cart(carts.create())

    @rpc
    def GetCart(self, request, context):
        return _cart(carts.get(cart_id=_existing_id(request.cart_id, "cart")))

    @rpc
    def AddCartItem(self, request, context):
        cart = carts.add_item(
            cart_id=_existing_id(request.cart_id, "cart"),
            product_id=request.product_id,
            quantity=request.quantity,
        )
        return _cart(cart)

    @rpc
    def SetCartItemQuantity(self, request, context):
        cart = carts.set_item_quantity(
            cart_id=_existing_id(request.cart_id, "cart"),
            product_id=request.product_id,
            quantity=request.quantity,
        )
        return _cart(cart)

    @rpc
    def RemoveCartItem(self, request, context):
        cart = carts.remove_item(
            cart_id=_existing_id(request.cart_id, "cart"), product_id=request.product_id
        )
        return _cart(cart)

    @rpc
    def PlaceOrder(self, request, context):
        cart_id = _uuid(request.cart_id)
        if cart_id is None:
            raise ValidationFailed("cart_id", f"No cart with id {request.cart_id}.")
        order, replayed = checkout.place_order(
            cart_id=cart_id,
            email=request.email,
            payment_token=request.payment_token,
            idempotency_key=request.idempotency_key,
        )
        return orders_pb2.PlaceOrderResponse(order=_order(order), replayed=replayed)

    @rpc
    def GetOrder(self, request, context):
        return _order(orders.get(order_id=_existing_id(request.order_id, "order")))

    @rpc
    def CancelOrder(self, request, context):
        return _order(orders.cancel(order_id=_existing_id(request.order_id, "order")))


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _existing_id(text: str, kind: str) -> uuid.UUID:
    found = _uuid(text)
    if found is None:
        raise NotFound(f"No {kind} with id {text}.")
    return found


def _lines(items: tuple[carts.Line, ...]) -> list[orders_pb2.Line]:
    return [
        orders_pb2.Line(
            product_id=item.product_id,
            sku=item.sku,
            name=item.name,
            unit_price_cents=item.unit_price_cents,
            quantity=item.quantity,
            line_total_cents=item.line_total_cents,
        )
        for item in items
    ]


def _cart(cart: carts.Cart) -> orders_pb2.Cart:
    return orders_pb2.Cart(
        id=str(cart.id),
        status=cart.status,
        items=_lines(cart.items),
        total_cents=cart.total_cents,
        currency=CURRENCY,
    )


def _order(order: orders.PlacedOrder) -> orders_pb2.Order:
    message = orders_pb2.Order(
        id=str(order.id),
        status=order.status,
        email=order.email,
        items=_lines(order.items),
        total_cents=order.total_cents,
        currency=CURRENCY,
    )
    message.created_at.FromDatetime(order.created_at)
    return message


@registers("shop.orders.v1.OrdersService")
def register(server) -> None:
    orders_pb2_grpc.add_OrdersServiceServicer_to_server(OrdersServicer(), server)
