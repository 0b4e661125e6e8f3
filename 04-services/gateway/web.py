"""The public API's HTTP plumbing: one error envelope, one request id, one pagination, one
rule for ids in URLs, one readiness answer. Stage 03's kernel/http.py, carried forward.

`exception_handler` is DRF's hook for everything raised inside a view, and the one place
where the services' failures become API.md's errors: a gRPC status reaches the gateway as the
chassis's ShopError it stands for (chassis.grpc_errors), so NOT_FOUND is a NotFound (404),
INVALID_ARGUMENT a ValidationFailed with its fields (400), FAILED_PRECONDITION the error its
reason names (out_of_stock 409 with the shortages, payment_declined 402, cart_closed 409,
idempotency_key_reused 422), UNAVAILABLE or a missed deadline a ServiceUnavailable (503 with
Retry-After). The `handler*` functions cover what Django answers before a view runs (an
unknown URL, a bad Host).
"""

import logging
import math
from collections.abc import Callable
from typing import Any

from chassis import deadlines
from chassis.errors import ServiceUnavailable, ShopError
from chassis.request_ids import request_id_var, valid_request_id
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import Page, Paginator
from django.core.signals import request_finished
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

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


# --- request ids -----------------------------------------------------------------------------
class RequestIdMiddleware:
    """Takes X-Request-ID (or makes one up) into chassis.request_ids.request_id_var: every log
    line of this request carries it, and every gRPC call sends it on as metadata, so one id
    follows a request through the gateway and every service it reaches."""

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


# --- time budgets -------------------------------------------------------------------------------
class DeadlineMiddleware:
    """One time budget per public request (chassis.deadlines): settings.SHOP_REQUEST_BUDGET
    seconds, or the setting a view names in its `budget_setting` (the checkout and the
    cancellation run a saga of several calls: SHOP_CHECKOUT_BUDGET). Every gRPC call made
    for the request gets what is left of it, so the request is answered within its budget
    however deep a slow service sits."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = deadlines.start(settings.SHOP_REQUEST_BUDGET)
        try:
            return self.get_response(request)
        finally:
            deadlines.end(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "view_class", None)  # set by as_view()
        setting = getattr(view_class, "budget_setting", None)
        if setting:
            deadlines.start(getattr(settings, setting))  # ended with the request's own token


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
            logger.warning("event=not_ready check=%s", name, exc_info=True)
            results[name] = "error"
    ready = all(result == "ok" for result in results.values())
    return Response(
        {"status": "ok" if ready else "error", "checks": results},
        status=200 if ready else 503,
        headers=None if ready else {"Retry-After": RETRY_AFTER_SECONDS},
    )


# --- ids in URLs -----------------------------------------------------------------------------
# The largest id a 64-bit integer holds (a proto int64, a database's bigint): a larger one
# names nothing, and must not reach a service, whose request could not even carry it.
LARGEST_ID = 2**63 - 1


class IdConverter:
    """A positive integer id that fits 64 bits; anything larger matches no URL (404), instead
    of failing to fit the gRPC request (a 500). Register it with
    `register_converter(IdConverter, "id")` and write `<id:product_id>`."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > LARGEST_ID:
            raise ValueError(f"{value} is larger than any id")  # Django: this URL does not match
        return number

    def to_url(self, value: int) -> str:
        return str(value)


# --- lists -----------------------------------------------------------------------------------
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


def page_response(
    request: Request, rows: Any, *, view: APIView, present: Callable[[Any], dict[str, Any]]
) -> Response:
    """The page of `rows` that `request` asks for (?page=, ?page_size=), as API.md lists
    things: count, next and previous links, results (each row made JSON by `present`). `rows`
    is a sequence as Django's paginator reads it: `count()`, then one slice."""
    paginator = PagePagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response([present(row) for row in page])
