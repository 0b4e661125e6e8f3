"""The public HTTP API's shared parts, used by the monolith's edge and the catalog service.

Both deployables of this stage answer parts of API.md, so both must speak it identically:
one error envelope, one pagination, one product shape and product list, one rule for ids in
URLs, one readiness answer, one request id on every log line. This is the stage's shared
kernel (kernel/ is a library: it imports no context); copying it into the service instead
would let the two answers drift apart, which the proxy's shadow mode would then have to find.

`exception_handler` is DRF's hook for everything raised inside a view; the `handler*`
functions cover what Django answers before a view runs (an unknown URL, a bad Host).
"""

import contextvars
import logging
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import Page, Paginator
from django.core.signals import request_finished
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.db.models import QuerySet
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from kernel.errors import ServiceUnavailable, ShopError
from kernel.money import CURRENCY, cents_to_str

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "5"


def error_body(
    code: str,
    message: str,
    *,
    fields: dict[str, list[str]] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    if details is not None:
        error["details"] = details
    return {"error": error}


def flatten_fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail -> {"dotted.name": ["why", ...]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for name, value in detail.items():
            flat.update(flatten_fields(value, f"{prefix}{name}."))
        return flat
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(flatten_fields(item, f"{prefix}{index}."))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix.rstrip(".") or "non_field_errors": [str(message) for message in messages]}


def too_large_body() -> dict[str, Any]:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_body("body_too_large", f"The body is larger than {limit} bytes.")


def _response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
    set_rollback()
    return Response(body, status=status, headers=headers)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, ShopError):
        headers = {"Retry-After": RETRY_AFTER_SECONDS} if exc.status == 503 else None
        return _response(
            exc.status,
            error_body(
                exc.code, exc.message, fields=getattr(exc, "fields", None), details=exc.details
            ),
            headers,
        )
    if isinstance(exc, Http404 | drf.NotFound):
        return _response(404, error_body("not_found", "Not found."))
    if isinstance(exc, RequestDataTooBig):
        return _response(413, too_large_body())
    if isinstance(exc, drf.ParseError | drf.UnsupportedMediaType):
        return _response(400, error_body("validation_error", f"The body is not valid JSON: {exc}"))
    if isinstance(exc, drf.ValidationError):
        return _response(
            400,
            error_body(
                "validation_error", "The request is not valid.", fields=flatten_fields(exc.detail)
            ),
        )
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        headers = {}
        authenticate_header = context["view"].get_authenticate_header(context["request"])
        if authenticate_header:
            headers["WWW-Authenticate"] = authenticate_header
        return _response(401, error_body("not_authenticated", str(exc.detail)), headers)
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        return _response(403, error_body("permission_denied", "You are not allowed to do this."))
    if isinstance(exc, drf.MethodNotAllowed):
        return _response(405, error_body("method_not_allowed", str(exc.detail)))
    if isinstance(exc, drf.Throttled):
        wait = math.ceil(exc.wait or 1)
        return _response(
            429,
            error_body("throttled", f"Too many attempts; try again in {wait} seconds."),
            {"Retry-After": str(wait)},
        )
    if isinstance(exc, drf.APIException):
        return _response(exc.status_code, error_body(exc.default_code, str(exc.detail)))
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("event=database_unavailable error=%r", exc)
        unavailable = ServiceUnavailable()
        return _response(
            503,
            error_body(unavailable.code, unavailable.message),
            {"Retry-After": RETRY_AFTER_SECONDS},
        )
    if isinstance(exc, DatabaseError):
        logger.exception("event=database_error")
    else:
        logger.exception("event=unhandled_error")
    return _response(500, error_body("internal_error", "Something went wrong on our side."))


def _json(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


def handler400(request, exception=None):
    if isinstance(exception, RequestDataTooBig):  # read before a view ran, e.g. by a middleware
        return JsonResponse(too_large_body(), status=413)
    return _json(400, "validation_error", "Bad request.")


def handler403(request, exception=None):
    return _json(403, "permission_denied", "You are not allowed to do this.")


def handler404(request, exception=None):
    return _json(404, "not_found", f"Nothing at {request.path}.")


def handler500(request):
    return _json(500, "internal_error", "Something went wrong on our side.")


# --- request ids -----------------------------------------------------------------------------
# Taken from X-Request-ID (the proxy sets one; a client may too) or made up, put on every log
# line and on the response: one id follows a request through the proxy, the monolith and the
# catalog service.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def valid_request_id(incoming: str) -> str:
    """`incoming` if it is a sensible request id, else a new one."""
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = valid_request_id(request.headers.get("X-Request-ID", ""))
        # Not reset on the way out: Django logs a 4xx/5xx ("Not Found: /api/…") after the
        # last middleware has returned. request_finished clears it once the response is sent.
        request_id_var.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def _forget_request_id(**_kwargs) -> None:
    request_id_var.set("-")


request_finished.connect(_forget_request_id, dispatch_uid="shop.request_id")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


# --- health ----------------------------------------------------------------------------------
def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def readiness_response(checks: dict[str, Callable[[], None]]) -> Response:
    """200 when every check passes, else 503 (with Retry-After) marking the failing ones."""
    results = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception:  # any failure of a dependency means "not ready", not a 500
            results[name] = "error"
    ready = all(result == "ok" for result in results.values())
    return Response(
        {"status": "ok" if ready else "error", "checks": results},
        status=200 if ready else 503,
        headers=None if ready else {"Retry-After": RETRY_AFTER_SECONDS},
    )


# --- ids in URLs -----------------------------------------------------------------------------
# The largest id a 64-bit integer column holds: a larger one names nothing, and must not reach
# the database driver, which would overflow (a 500) instead of finding nothing.
LARGEST_ID = 2**63 - 1


class IdConverter:
    """A positive integer id that fits a database's 64-bit integer column; anything larger
    matches no URL (404), instead of overflowing in the database driver (a 500).
    Register it with `register_converter(IdConverter, "id")` and write `<id:product_id>`."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > LARGEST_ID:
            raise ValueError(f"{value} is larger than any id")  # Django: this URL does not match
        return number

    def to_url(self, value: int) -> str:
        return str(value)


# --- lists and products ----------------------------------------------------------------------
class PageFirstPaginator(Paginator):
    """Django's Paginator, reading the page before the count.

    Django's asks for `count()` first (to check the page number), then for the page's slice:
    two calls when a service answers them. A service's page carries its total
    (catalog.proto's ListProductsResponse.total_count), so this one slices first and checks
    the number after, against the total the slice learnt: one call per page. A query set
    answers the same two queries either way. `?page=last` needs the count first, as before.
    """

    def page(self, number: Any) -> Page:
        try:
            wanted = int(number)
        except (TypeError, ValueError):
            return super().page(number)  # "last", or not a number: Django's answers
        if wanted < 1 or self.orphans:
            return super().page(number)
        bottom = (wanted - 1) * self.per_page
        rows = self.object_list[bottom : bottom + self.per_page]
        return self._get_page(rows, self.validate_number(wanted), self)


class PagePagination(PageNumberPagination):
    """API.md's pages: ?page=N, 20 per page, ?page_size= capped at 100."""

    django_paginator_class = PageFirstPaginator
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


Row = TypeVar("Row")


class PagedRows(Generic[Row]):
    """The rows of a `values()` query, each made into an object, read a page at a time.

    It behaves like the sequence PagePagination expects (`count()` and slicing): two queries
    per page (the count, then the page's rows as plain values), whatever the page size. The
    count runs on `matching`, the bare filter: no values(), no ordering, no join unless a
    filter needs one; counting the values() query compiles and runs all of that for nothing.
    """

    def __init__(self, matching: QuerySet, rows: QuerySet, make: Callable[[dict[str, Any]], Row]):
        self._matching = matching
        self._rows = rows
        self._make = make

    def count(self) -> int:
        return self._matching.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, page: slice) -> list[Row]:
        return [self._make(row) for row in self._rows[page]]


@dataclass(frozen=True)
class Product:
    """A product as the catalog hands it out, in the monolith and in the catalog service."""

    id: int
    sku: str
    name: str
    description: str
    category: str
    price_cents: int


def product_dict(product: Product) -> dict[str, Any]:
    """A product as API.md shows it. Money becomes a string only here."""
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "price": cents_to_str(product.price_cents),
        "currency": CURRENCY,
    }


class ProductFilterSerializer(serializers.Serializer):
    """The filters of GET /api/products/: ?q= and ?category=."""

    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    category = serializers.CharField(required=False, allow_blank=True, max_length=50)


def product_page(request: Request, products: Any, *, view: APIView) -> Response:
    """The page of `products` that `request` asks for (?page=, ?page_size=), as API.md lists
    products: count, next and previous links, results. `products` is a sequence of Product
    as Django's paginator reads it: `count()`, then one slice (e.g. PagedRows)."""
    paginator = PagePagination()
    page = paginator.paginate_queryset(products, request, view=view)
    return paginator.get_paginated_response([product_dict(product) for product in page])
