"""The orders service, as the views call it: carts, checkout (the saga runs there), orders."""

import uuid

from chassis import clients
from chassis.errors import ServiceUnavailable
from shop.orders.v1 import orders_pb2

MAX_LINE_QUANTITY = 99  # API.md: quantity 1..99 per cart line
# The fake payment provider's tokens (API.md). The payments service refuses any other too,
# but only after the orders service has reserved stock for the checkout: the gateway turns
# a typo away before anything starts, as stage 03 did.
PAYMENT_TOKENS = frozenset({"tok_visa", "tok_mastercard", "tok_chargeDeclined"})
# A checkout that fails with no word from the orders service on the payment (it did not
# answer) may have charged: the client must not start again with a new key.
PAYMENT_UNKNOWN = (
    "The payment may have been taken: do not check out again with a new Idempotency-Key; "
    "send the same request with the same key to learn how the checkout ended."
)


def is_known_token(token: str) -> bool:
    """Whether the provider knows this token at all (an unknown one is a validation error)."""
    return token in PAYMENT_TOKENS


def cart_create() -> orders_pb2.Cart:
    return clients.orders.call("CreateCart", orders_pb2.CreateCartRequest())


def cart_get(*, cart_id: uuid.UUID) -> orders_pb2.Cart:
    return clients.orders.call("GetCart", orders_pb2.GetCartRequest(cart_id=str(cart_id)))


def cart_add_item(*, cart_id: uuid.UUID, product_id: int, quantity: int) -> orders_pb2.Cart:
    request = orders_pb2.AddCartItemRequest(
        cart_id=str(cart_id), product_id=product_id, quantity=quantity
    )
    return clients.orders.call("AddCartItem", request)


def cart_set_item_quantity(
    *, cart_id: uuid.UUID, product_id: int, quantity: int
) -> orders_pb2.Cart:
    request = orders_pb2.SetCartItemQuantityRequest(
        cart_id=str(cart_id), product_id=product_id, quantity=quantity
    )
    return clients.orders.call("SetCartItemQuantity", request)


def cart_remove_item(*, cart_id: uuid.UUID, product_id: int) -> orders_pb2.Cart:
    request = orders_pb2.RemoveCartItemRequest(cart_id=str(cart_id), product_id=product_id)
    return clients.orders.call("RemoveCartItem", request)


def place_order(
    *, cart_id: uuid.UUID, email: str, payment_token: str, idempotency_key: str | None = None
) -> tuple[orders_pb2.Order, bool]:
    """Check the cart out; returns (order, replayed). With an idempotency key, the orders
    service answers a repeated request with the order it placed the first time (replayed),
    and refuses the key with another request (idempotency_key_reused). A ServiceUnavailable
    says in details["payment"] whether the customer may have been charged: "none",
    "unknown" (retry only with the same key) or "refunded"."""
    request = orders_pb2.PlaceOrderRequest(
        cart_id=str(cart_id),
        email=email,
        payment_token=payment_token,
        idempotency_key=idempotency_key or "",
    )
    try:
        answer = clients.orders.call("PlaceOrder", request)
    except ServiceUnavailable as error:
        details = error.details or {}
        if "payment" not in details:  # the orders service did not say: it did not answer
            raise ServiceUnavailable(
                f"{error.message} {PAYMENT_UNKNOWN}", details={**details, "payment": "unknown"}
            ) from error
        raise
    return answer.order, answer.replayed


def order_get(*, order_id: uuid.UUID) -> orders_pb2.Order:
    return clients.orders.call("GetOrder", orders_pb2.GetOrderRequest(order_id=str(order_id)))


def cancel_order(*, order_id: uuid.UUID) -> orders_pb2.Order:
    """Refund, return the stock, mark cancelled (the orders service does all three)."""
    request = orders_pb2.CancelOrderRequest(order_id=str(order_id))
    return clients.orders.call("CancelOrder", request)
