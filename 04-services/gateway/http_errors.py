"""One place that turns every exception into the error envelope of API.md.

Stage 03's kernel/http_errors.py, carried forward. `exception_handler` is DRF's hook for
everything raised inside a view, and the one place where the services' failures become
API.md's errors: a gRPC status reaches the gateway as the chassis's ShopError it stands for
(chassis.grpc_errors), so NOT_FOUND is a NotFound (404), INVALID_ARGUMENT a ValidationFailed
with its fields (400), FAILED_PRECONDITION the error its reason names (out_of_stock 409 with
the shortages, payment_declined 402, cart_closed 409, idempotency_key_reused 422),
UNAVAILABLE or a missed deadline a ServiceUnavailable (503 with Retry-After). The `handler*`
functions cover what Django answers before a view runs (an unknown URL, a bad Host).
"""

import logging
import math
from typing import Any

from chassis.errors import RETRY_AFTER_SECONDS, ServiceUnavailable, ShopError
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)


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


def _unavailable(error: ShopError) -> Response:
    """503, naming in `details` the service that failed (and, for a checkout, what became of
    the payment: see ordering.place_order)."""
    return _response(
        503,
        error_body(error.code, error.message, details=error.details),
        {"Retry-After": RETRY_AFTER_SECONDS},
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, ServiceUnavailable):
        return _unavailable(exc)
    if isinstance(exc, ShopError):
        return _response(
            exc.status,
            error_body(
                exc.code, exc.message, fields=getattr(exc, "fields", None), details=exc.details
            ),
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
    if isinstance(exc, OperationalError | InterfaceError):  # the gateway's own database
        logger.warning("event=database_unavailable error=%r", exc)
        return _unavailable(ServiceUnavailable())
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
