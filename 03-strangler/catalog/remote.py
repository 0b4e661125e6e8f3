"""The catalog as a remote service: the functions of `catalog.local`, over gRPC.

The catalog service (`catalog_service/`) answers `shop.catalog.v1.CatalogService`
(proto/shop/catalog/v1/catalog.proto). What a network adds, and how this module handles it:

- every call has a deadline (SHOP_CATALOG_GRPC_TIMEOUT seconds): a slow service costs the
  caller that long at most, never a hung worker;
- reads are retried by the channel itself (the retry policy in SERVICE_CONFIG: UNAVAILABLE
  only, up to 3 attempts with backoff, inside the same deadline); writes are not retried,
  since a create that timed out may have happened;
- gRPC status codes become the kernel's errors (`_shop_error`): NOT_FOUND -> NotFound,
  INVALID_ARGUMENT / ALREADY_EXISTS -> ValidationFailed on the fields the service names,
  UNAVAILABLE / DEADLINE_EXCEEDED -> ServiceUnavailable, which the API shows as a 503 with
  Retry-After. Anything else is a bug on one side: it is logged and becomes a 500 envelope.

One channel per target and process, made on first use: gunicorn forks its workers before
any request, so no channel crosses a fork.
"""

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Unpack

import grpc
from django.conf import settings
from google.protobuf.field_mask_pb2 import FieldMask
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from kernel.errors import NotFound, ServiceUnavailable, ValidationFailed
from kernel.money import CURRENCY
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from .types import Product, ProductChanges

logger = logging.getLogger(__name__)

SERVICE = "shop.catalog.v1.CatalogService"
BATCH_LIMIT = 1000  # BatchGetProducts takes at most this many ids (catalog.proto)
MAX_PAGE_SIZE = 100  # ListProducts caps page_size here (catalog.proto)
HEALTH_TIMEOUT = 1.0  # seconds; the readiness probe must answer fast
SERVICE_CONFIG = {
    "methodConfig": [
        {
            "name": [
                {"service": SERVICE, "method": method}
                for method in ("GetProduct", "BatchGetProducts", "ListProducts")
            ],
            "retryPolicy": {
                "maxAttempts": 3,
                "initialBackoff": "0.1s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}
UNAVAILABLE_CODES = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
# The service names the fields of its messages; the API names them as API.md does.
API_FIELD_NAMES = {"price_cents": "price"}


class CatalogServiceError(RuntimeError):
    """The catalog service answered with an error no caller can do anything about (a bug)."""


_channels: dict[str, grpc.Channel] = {}
# A stub makes a callable for every method of the service when it is built: built once per
# channel, not per call.
_stubs: dict[str, catalog_pb2_grpc.CatalogServiceStub] = {}
_channels_lock = threading.Lock()


def channel() -> grpc.Channel:
    """The channel to SHOP_CATALOG_GRPC_TARGET, made once per process (channels are
    thread-safe, keep their connection open and reconnect by themselves)."""
    return _connected()[0]


def _stub() -> catalog_pb2_grpc.CatalogServiceStub:
    return _connected()[1]


def _connected() -> tuple[grpc.Channel, catalog_pb2_grpc.CatalogServiceStub]:
    target = settings.SHOP_CATALOG_GRPC_TARGET
    with _channels_lock:
        if target not in _channels:
            _channels[target] = grpc.insecure_channel(
                target,
                options=[
                    ("grpc.enable_retries", 1),
                    ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
                ],
            )
            _stubs[target] = catalog_pb2_grpc.CatalogServiceStub(_channels[target])
        return _channels[target], _stubs[target]


def _call(method: Callable[..., Any], request: Any) -> Any:
    """One RPC with the deadline, its failure turned into the kernel's errors."""
    try:
        return method(request, timeout=settings.SHOP_CATALOG_GRPC_TIMEOUT)
    except grpc.RpcError as error:
        raise _shop_error(error) from error


def _shop_error(error: grpc.RpcError) -> Exception:
    code, message = error.code(), error.details() or ""
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(message or None)
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS):
        violations = _field_violations(error)
        if violations:
            field, reason = violations[0]
            invalid = ValidationFailed(field, reason)
            for field, reason in violations[1:]:
                invalid.fields.setdefault(field, []).append(reason)
            return invalid
        return ValidationFailed("non_field_errors", message or "The request is not valid.")
    if code in UNAVAILABLE_CODES:
        logger.warning("event=catalog_unavailable code=%s details=%r", code.name, message)
        return ServiceUnavailable("The catalog is unavailable; try again shortly.")
    logger.error("event=catalog_error code=%s details=%r", code.name, message)
    return CatalogServiceError(f"catalog service: {code.name}: {message}")


def _field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """The google.rpc.BadRequest field violations in the error's details, as (field, why)."""
    status = rpc_status.from_call(error)
    if status is None:
        return []
    violations = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            for violation in bad_request.field_violations:
                field = violation.field.removeprefix("product.")
                violations.append((API_FIELD_NAMES.get(field, field), violation.description))
    return violations


def _product(message: catalog_pb2.Product) -> Product:
    return Product(
        id=message.id,
        sku=message.sku,
        name=message.name,
        description=message.description,
        category=message.category,
        price_cents=message.price_cents,
    )


class RemoteProductSearch:
    """A search the service runs: each slice asks for one page, and remembers the total that
    comes with it; `count()` asks only when no page was read yet. The API's paginator slices
    first (kernel.http.PageFirstPaginator): one call per page."""

    def __init__(self, *, q: str | None, category: str | None):
        self._filters = {"query": q or "", "category": category or ""}
        self._count: int | None = None

    def _page(self, page: int, page_size: int) -> catalog_pb2.ListProductsResponse:
        request = catalog_pb2.ListProductsRequest(page=page, page_size=page_size, **self._filters)
        answer = _call(_stub().ListProducts, request)
        self._count = answer.total_count
        return answer

    def count(self) -> int:
        if self._count is None:
            self._page(1, 1)
        return self._count

    def __getitem__(self, window: slice) -> list[Product]:
        """Products [start:stop). Django's paginator asks for [(n-1)*size : n*size], cut
        short on the last page; the service thinks in pages, so find the page size that
        puts `start` on a page boundary: the paginator's own size always does."""
        start, stop = window.start or 0, window.stop
        wanted = stop - start
        if wanted <= 0:
            return []
        size = next((size for size in range(wanted, MAX_PAGE_SIZE + 1) if start % size == 0), None)
        if size is None:
            raise ValueError(f"cannot read products [{start}:{stop}) as one page")
        answer = self._page(start // size + 1, size)
        return [_product(message) for message in answer.products[:wanted]]


def product_search(*, q: str | None = None, category: str | None = None) -> RemoteProductSearch:
    return RemoteProductSearch(q=q, category=category)


def product_get(*, product_id: int) -> Product:
    return _product(_call(_stub().GetProduct, catalog_pb2.GetProductRequest(id=product_id)))


def products_get_many(*, product_ids: Iterable[int]) -> dict[int, Product]:
    ids = sorted(set(product_ids))
    found: dict[int, Product] = {}
    for first in range(0, len(ids), BATCH_LIMIT):  # one call, unless a caller asks for > 1000
        request = catalog_pb2.BatchGetProductsRequest(ids=ids[first : first + BATCH_LIMIT])
        answer = _call(_stub().BatchGetProducts, request)
        found.update((message.id, _product(message)) for message in answer.products)
    return found


def product_create(
    *, sku: str, name: str, description: str, category: str, price_cents: int
) -> Product:
    product = catalog_pb2.Product(
        sku=sku,
        name=name,
        description=description,
        category=category,
        price_cents=price_cents,
        currency=CURRENCY,
    )
    request = catalog_pb2.CreateProductRequest(product=product)
    return _product(_call(_stub().CreateProduct, request))


def product_update(*, product_id: int, **changes: Unpack[ProductChanges]) -> Product:
    given = {field: value for field, value in changes.items() if value is not None}
    request = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(id=product_id, **given),
        update_mask=FieldMask(paths=list(given)),
    )
    return _product(_call(_stub().UpdateProduct, request))


def check() -> None:
    """The service's standard gRPC health check: SERVING, within HEALTH_TIMEOUT."""
    request = health_pb2.HealthCheckRequest(service=SERVICE)
    try:
        answer = health_pb2_grpc.HealthStub(channel()).Check(request, timeout=HEALTH_TIMEOUT)
    except grpc.RpcError as error:
        raise ServiceUnavailable(f"catalog service: {error.code().name}") from error
    if answer.status != health_pb2.HealthCheckResponse.SERVING:
        raise ServiceUnavailable(f"catalog service: {answer.status}")
