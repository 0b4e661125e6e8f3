"""The catalog service's gRPC API, `shop.catalog.v1.CatalogService`, for the monolith.

proto/shop/catalog/v1/catalog.proto is the contract. Each method of CatalogServicer unpacks
the request, calls one function of `products`, and packs the answer; errors are raised there
as the kernel's exceptions and turned into status codes in one place, `_rpc`:

    NotFound                      -> NOT_FOUND
    ValidationFailed              -> INVALID_ARGUMENT, with a google.rpc.BadRequest detail
                                     listing the field violations
    products.DuplicateSku         -> ALREADY_EXISTS, with the same detail (field "sku")
    the database unreachable      -> UNAVAILABLE (a caller's retry policy may try again)
    anything else                 -> INTERNAL, its traceback logged, the server unharmed

The server runs each call in a thread of its pool, outside any Django request, so `_rpc` also
does what Django's request cycle would: it drops database connections that broke or outlived
CONN_MAX_AGE, before and after the call, and it carries the caller's x-request-id into the
logs.
"""

import functools
import logging
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from django.db import InterfaceError, OperationalError, close_old_connections
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from kernel.catalog_presenters import Product
from kernel.errors import NotFound, ServiceUnavailable, ValidationFailed
from kernel.metrics import observe_grpc_call
from kernel.money import CURRENCY
from kernel.request_ids import request_id_var, valid_request_id
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from . import faults, products

logger = logging.getLogger(__name__)

SERVICE_NAME = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name


# --- errors -> status codes ------------------------------------------------------------------
def _bad_request(code: int, error: ValidationFailed) -> status_pb2.Status:
    violations = [
        error_details_pb2.BadRequest.FieldViolation(field=field, description=reason)
        for field, reasons in error.fields.items()
        for reason in reasons
    ]
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.BadRequest(field_violations=violations))
    # The message repeats the violations for a person reading it (grpcurl, a log line); a
    # program reads the detail.
    message = "; ".join(f"{violation.field}: {violation.description}" for violation in violations)
    return status_pb2.Status(code=code, message=message, details=[detail])


def _status(error: Exception, method: str) -> status_pb2.Status:
    """The status a failed call ends with. Called while `error` is being handled."""
    if isinstance(error, NotFound):
        return status_pb2.Status(code=code_pb2.NOT_FOUND, message=error.message)
    if isinstance(error, products.DuplicateSku):
        return _bad_request(code_pb2.ALREADY_EXISTS, error)
    if isinstance(error, ValidationFailed):
        return _bad_request(code_pb2.INVALID_ARGUMENT, error)
    if isinstance(error, ServiceUnavailable | OperationalError | InterfaceError):
        logger.warning("event=grpc_unavailable method=%s error=%r", method, error)
        return status_pb2.Status(code=code_pb2.UNAVAILABLE, message=ServiceUnavailable.message)
    logger.exception("event=grpc_internal_error method=%s", method)
    return status_pb2.Status(code=code_pb2.INTERNAL, message="Something went wrong on our side.")


def _rpc(method: Callable[[Any, Any, grpc.ServicerContext], Any]):
    """Run one call of `method` as described in the module's docstring."""

    @functools.wraps(method)
    def call(servicer: Any, request: Any, context: grpc.ServicerContext) -> Any:
        incoming = dict(context.invocation_metadata()).get("x-request-id", "")
        request_id = request_id_var.set(valid_request_id(incoming))
        started = time.perf_counter()
        code = "OK"
        close_old_connections()
        try:
            return method(servicer, request, context)
        except Exception as error:  # every failure becomes a status; none stops the server
            status = _status(error, method.__name__)
            code = code_pb2.Code.Name(status.code)
        finally:
            close_old_connections()
            request_id_var.reset(request_id)
            observe_grpc_call(method.__qualname__, code, time.perf_counter() - started)
        context.abort_with_status(rpc_status.to_status(status))

    return call


# --- the service -----------------------------------------------------------------------------
def _message(product: Product) -> catalog_pb2.Product:
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
    @_rpc
    def GetProduct(self, request, context):
        return _message(products.get(product_id=request.id))

    @_rpc
    def BatchGetProducts(self, request, context):
        found = products.get_many(product_ids=list(request.ids))
        return catalog_pb2.BatchGetProductsResponse(products=[_message(p) for p in found])

    @_rpc
    def ListProducts(self, request, context):
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

    @_rpc
    def CreateProduct(self, request, context):
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

    @_rpc
    def UpdateProduct(self, request, context):
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


# --- the server ------------------------------------------------------------------------------
def build_server(
    address: str,
    *,
    max_workers: int = 10,
    health_servicer: health.HealthServicer | None = None,
) -> tuple[grpc.Server, int]:
    """A server for the catalog, the standard health service and reflection, bound to
    `address` ("host:port"; port 0 picks a free one) but not started. Returns it and the
    port it bound. Pass `health_servicer` to change the health status later (serve_grpc
    does, when it shuts down)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="catalog-grpc"),
        interceptors=faults.interceptors(),  # `make fault`'s latency and errors, when asked
        # Fail to start when the port is taken, rather than share it with whatever holds it
        # (gRPC sets SO_REUSEPORT by default: two catalog services would split the calls).
        options=[("grpc.so_reuseport", 0)],
    )
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(CatalogServicer(), server)
    health_servicer = health_servicer or health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in ("", SERVICE_NAME):  # "": the server as a whole
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    port = server.add_insecure_port(address)
    return server, port
