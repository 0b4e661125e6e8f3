"""The catalog's products as API.md shows and lists them, in the monolith and in the catalog
service alike (the proxy's shadow mode compares the two answers byte for byte): the Product
both hand out, its JSON shape, the list's filters and its pages.
"""

from dataclasses import dataclass
from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.http import PagePagination
from kernel.money import CURRENCY, cents_to_str


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
