"""The catalog's reads over HTTP: what the strangler proxy sends GET /api/products/ to.

The answers must be the monolith's, byte for byte (the proxy's shadow mode compares the two),
so the filters, the pagination, the product shape and the errors all come from the kernel
(kernel.catalog_presenters, kernel.http, kernel.http_errors), which the monolith's edge uses
too. There are no writes here: the monolith takes them (it authenticates staff) and forwards
them over gRPC, so these views define only `get` and DRF answers any other method with the
405 envelope.
"""

from kernel.catalog_presenters import ProductFilterSerializer, product_dict, product_page
from kernel.http import check_database, readiness_response
from rest_framework.response import Response
from rest_framework.views import APIView

from . import products


class ProductListApi(APIView):
    def get(self, request):
        filters = ProductFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return product_page(request, products.matching(**filters.validated_data), view=self)


class ProductDetailApi(APIView):
    def get(self, request, product_id: int):
        return Response(product_dict(products.get(product_id=product_id)))


class HealthApi(APIView):
    def get(self, request):
        return Response({"status": "ok", "service": "catalog"})


class ReadinessApi(APIView):
    """200 when the database answers, else 503 with Retry-After."""

    checks = {"database": check_database}

    def get(self, request):
        return readiness_response(self.checks)
