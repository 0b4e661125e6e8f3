"""The public HTTP API's shared parts, used by the monolith's edge and the catalog service.

Both deployables of this stage answer parts of API.md, so both must speak it identically:
one error envelope, one pagination, one product shape, one rule for ids in URLs. This is the
stage's shared kernel (kernel/ is a library: it imports no context); copying it into the
service instead would let the two answers drift apart, which the proxy's shadow mode would
then have to find.

`exception_handler` is DRF's hook for everything raised inside a view; the `handler*`
functions cover what Django answers before a view runs (an unknown URL, a bad Host).
"""

import logging
from typing import Any, Protocol

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import set_rollback

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
    return _json(400, "validation_error", "Bad request.")


def handler403(request, exception=None):
    return _json(403, "permission_denied", "You are not allowed to do this.")


def handler404(request, exception=None):
    return _json(404, "not_found", f"Nothing at {request.path}.")


def handler500(request):
    return _json(500, "internal_error", "Something went wrong on our side.")


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
class PagePagination(PageNumberPagination):
    """API.md's pages: ?page=N, 20 per page, ?page_size= capped at 100."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class ProductLike(Protocol):
    id: int
    sku: str
    name: str
    description: str
    category: str
    price_cents: int


def product_dict(product: ProductLike) -> dict[str, Any]:
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
