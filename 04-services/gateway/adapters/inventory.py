"""The inventory service, as the views call it: what is available, and restocking."""

from chassis import clients
from chassis.request_ids import request_id_var
from shop.catalog.v1 import catalog_pb2
from shop.inventory.v1 import inventory_pb2


def _require_product(product_id: int) -> None:
    """NotFound unless the catalog has this product. The inventory answers 0 for a product
    it has never heard of (inventory.proto), so only the catalog can say it does not exist."""
    clients.catalog.call("GetProduct", catalog_pb2.GetProductRequest(id=product_id))


def available(*, product_id: int) -> int:
    """Units of a product that can be sold; NotFound if the catalog does not know it.

    One call when the product was ever stocked (the inventory only stocks products the
    catalog knows); two, the catalog's to tell 0 from "no such product", when it never was.
    A profile of the gateway showed each gRPC call among its largest costs."""
    request = inventory_pb2.GetAvailabilityRequest(product_ids=[product_id])
    [level] = clients.inventory.call("GetAvailability", request).levels
    if not level.stocked:
        _require_product(product_id)
    return level.available


def restock(*, product_id: int, quantity: int) -> int:
    """Add units to a product's stock; returns what is now available.

    The request id is the idempotency key: the channel may send Restock again after an
    UNAVAILABLE, and a client retrying with the same X-Request-ID means the same restock;
    neither adds the units twice.
    """
    _require_product(product_id)
    request = inventory_pb2.RestockRequest(
        product_id=product_id, quantity=quantity, idempotency_key=request_id_var.get()
    )
    return clients.inventory.call("Restock", request).available
