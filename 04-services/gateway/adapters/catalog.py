"""The catalog service, as the views call it: search, read, create and change products."""

import contextlib
from collections.abc import Iterator

from chassis import clients
from chassis.errors import ValidationFailed
from chassis.money import CURRENCY
from google.protobuf.field_mask_pb2 import FieldMask
from shop.catalog.v1 import catalog_pb2

MAX_PAGE_SIZE = 100  # ListProducts caps page_size here (catalog.proto)
# The service names the fields of its messages (`price_cents`); the API names them as API.md
# does (`price`).
API_FIELD_NAMES = {"price_cents": "price"}


class ProductSearch:
    """A search the catalog service runs, read as Django's paginator reads a queryset:
    each slice asks for one page, and remembers the total that comes with it; `count()` asks
    only when no page was read yet (stage 03's RemoteProductSearch). The gateway's paginator
    slices first (web.PageFirstPaginator): one call per page."""

    def __init__(self, *, q: str | None, category: str | None):
        self._filters = {"query": q or "", "category": category or ""}
        self._count: int | None = None

    def _page(self, page: int, page_size: int) -> catalog_pb2.ListProductsResponse:
        request = catalog_pb2.ListProductsRequest(page=page, page_size=page_size, **self._filters)
        answer = clients.catalog.call("ListProducts", request)
        self._count = answer.total_count
        return answer

    def count(self) -> int:
        if self._count is None:
            self._page(1, 1)
        return self._count

    def __getitem__(self, window: slice) -> list[catalog_pb2.Product]:
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
        return list(self._page(start // size + 1, size).products[:wanted])


def product_search(*, q: str | None = None, category: str | None = None) -> ProductSearch:
    """Products whose name or description contains `q`, in category `category` (both optional)."""
    return ProductSearch(q=q, category=category)


def product_get(*, product_id: int) -> catalog_pb2.Product:
    return clients.catalog.call("GetProduct", catalog_pb2.GetProductRequest(id=product_id))


def product_create(
    *, sku: str, name: str, description: str, category: str, price_cents: int
) -> catalog_pb2.Product:
    product = catalog_pb2.Product(
        sku=sku,
        name=name,
        description=description,
        category=category,
        price_cents=price_cents,
        currency=CURRENCY,
    )
    with _api_field_names():
        return clients.catalog.call(
            "CreateProduct", catalog_pb2.CreateProductRequest(product=product)
        )


def product_update(
    *,
    product_id: int,
    name: str | None = None,
    description: str | None = None,
    category: str | None = None,
    price_cents: int | None = None,
) -> catalog_pb2.Product:
    """Change the fields given; the update mask names them, so the others keep their values."""
    changes = {
        "name": name,
        "description": description,
        "category": category,
        "price_cents": price_cents,
    }
    changes = {field: value for field, value in changes.items() if value is not None}
    request = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(id=product_id, **changes),
        update_mask=FieldMask(paths=list(changes)),
    )
    with _api_field_names():
        return clients.catalog.call("UpdateProduct", request)


@contextlib.contextmanager
def _api_field_names() -> Iterator[None]:
    """Rename the fields of a ValidationFailed from the service's names to the API's."""
    try:
        yield
    except ValidationFailed as invalid:
        renamed: dict[str, list[str]] = {}
        for field, reasons in invalid.fields.items():
            renamed.setdefault(API_FIELD_NAMES.get(field, field), []).extend(reasons)
        invalid.fields = renamed
        raise
