"""The catalog service's gRPC API, `shop.catalog.v1.CatalogService`, for the gateway and the
orders service.

proto/shop/catalog/v1/catalog.proto is the contract. Each method unpacks the request, calls
one function of `products`, and packs the answer. Errors are raised there as the chassis's
exceptions; `chassis.grpc_server.rpc` turns them into statuses, the same way in every service
(NotFound -> NOT_FOUND, ValidationFailed -> INVALID_ARGUMENT with the field violations,
products.DuplicateSku -> ALREADY_EXISTS, the database down -> UNAVAILABLE).
"""

from chassis.grpc_server import registers, rpc
from chassis.money import CURRENCY
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from . import products


def _message(product: products.Product) -> catalog_pb2.Product:
    # Field by field: dataclasses.asdict deep-copies, and cost 6% of a list call's CPU.
    return catalog_pb2.Product(
        id=product.id,
        sku=product.sku,
        name=product.name,
        description=product.description,
        category=product.category,
        price_cents=product.price_cents,
        currency=CURRENCY,
    )


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    @rpc
    def GetProduct(self, request, context):  # noqa: N802 (gRPC's method names)
        return _message(products.get(product_id=request.id))

    @rpc
    def BatchGetProducts(self, request, context):  # noqa: N802
        found = products.get_many(product_ids=list(request.ids))
        return catalog_pb2.BatchGetProductsResponse(products=[_message(p) for p in found])

    @rpc
    def ListProducts(self, request, context):  # noqa: N802
        # proto3 cannot tell 0 from "not set": 0 means the default (catalog.proto). A negative
        # number is passed on, for products.search to refuse.
        page = products.search(
            q=request.query,
            category=request.category,
            page=request.page or 1,
            page_size=min(request.page_size or products.DEFAULT_PAGE_SIZE, products.MAX_PAGE_SIZE),
        )
        return catalog_pb2.ListProductsResponse(
            products=[_message(product) for product in page.products], total_count=page.total
        )

    @rpc
    def CreateProduct(self, request, context):  # noqa: N802
        new = request.product
        product = products.create(
            sku=new.sku,
            name=new.name,
            description=new.description,
            category=new.category,
            price_cents=new.price_cents,
            currency=new.currency,
        )
        return _message(product)

    @rpc
    def UpdateProduct(self, request, context):  # noqa: N802
        changed = request.product
        product = products.update(
            product_id=changed.id,
            fields=set(request.update_mask.paths),
            name=changed.name,
            description=changed.description,
            category=changed.category,
            price_cents=changed.price_cents,
            currency=changed.currency,
        )
        return _message(product)


@registers("shop.catalog.v1.CatalogService")
def register(server) -> None:
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(CatalogServicer(), server)
