"""The HTTP plumbing both deployables of this stage share: one readiness answer, one rule for
ids in URLs, one pagination.

Both the monolith's edge and the catalog service answer parts of API.md, so both must speak
it identically. What they share lives in the shared kernel (kernel/ is a library: it imports
no context); copying it into the service instead would let the two answers drift apart, which
the proxy's shadow mode would then have to find. Beside this module: the error envelope
(kernel/http_errors.py), request ids (kernel/middleware.py, kernel/request_ids.py) and the
catalog's products as API.md shows and lists them (kernel/catalog_presenters.py).
"""

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from kernel.errors import RETRY_AFTER_SECONDS


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

    def __getitem__(self, page: slice) -> list[Row]:
        return [self._make(row) for row in self._rows[page]]
