"""The clients of the stage's four gRPC services, one each, for whoever calls them (the
gateway; the orders service calls catalog, inventory and payments).

`retried` lists the methods the channel may send again after UNAVAILABLE: reads, and writes
that carry an idempotency key the callee honours (see each .proto). CreateProduct and
UpdateProduct are not: a product created twice is two products.
"""

from django.conf import settings
from shop.catalog.v1 import catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2_grpc
from shop.orders.v1 import orders_pb2_grpc
from shop.payments.v1 import payments_pb2_grpc

from chassis.grpc_client import ServiceClient


def _target(service: str):
    return lambda: settings.SHOP_GRPC_TARGETS[service]


catalog = ServiceClient(
    "catalog",
    target=_target("catalog"),
    stub=catalog_pb2_grpc.CatalogServiceStub,
    service="shop.catalog.v1.CatalogService",
    retried=("GetProduct", "BatchGetProducts", "ListProducts"),
)
inventory = ServiceClient(
    "inventory",
    target=_target("inventory"),
    stub=inventory_pb2_grpc.InventoryServiceStub,
    service="shop.inventory.v1.InventoryService",
    retried=("GetAvailability", "Restock", "Reserve", "Commit", "Release"),
)
payments = ServiceClient(
    "payments",
    target=_target("payments"),
    stub=payments_pb2_grpc.PaymentsServiceStub,
    service="shop.payments.v1.PaymentsService",
    retried=("CreateCharge", "RefundCharge", "GetCharge", "VoidCharge", "ListCharges"),
)
orders = ServiceClient(
    "orders",
    target=_target("orders"),
    stub=orders_pb2_grpc.OrdersServiceStub,
    # Cart changes are not idempotent (an "add 2" sent twice adds 4), nor is CreateCart (sent
    # twice, it opens two carts); PlaceOrder is only with an idempotency key, which the
    # gateway may not have: none of them is retried.
    service="shop.orders.v1.OrdersService",
    retried=("GetCart", "GetOrder", "CancelOrder"),
)
