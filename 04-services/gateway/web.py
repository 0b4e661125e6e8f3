"""The public API's HTTP plumbing: one readiness answer, one rule for ids in URLs, one
pagination. Stage 03's kernel/http.py, carried forward (the catalog's presenters went to
gateway/presenters.py); beside it, the error envelope (gateway/http_errors.py) and the
request ids and time budgets (gateway/middleware.py).
"""

import logging
from collections.abc import Callable
from typing import Any

from chassis.errors import RETRY_AFTER_SECONDS
from django.core.paginator import Page, Paginator
from django.db import connection
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

logger = logging.getLogger(__name__)


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
