"""The public HTTP API: one thin view per resource, one call to a context's api per method.

Each view validates input with its nested InputSerializer, calls one function of one
context's public `api`, and renders the dataclass it gets back with a presenter. Errors are
raised, never built here: the exception handler in `kernel.http_errors` renders them.
"""

import hashlib
import json
import uuid
from decimal import Decimal

from catalog import api as catalog_api
from django.conf import settings
from django.contrib.auth import authenticate
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from inventory import api as inventory_api
from kernel import broker
from kernel.catalog_presenters import ProductFilterSerializer, product_dict, product_page
from kernel.errors import ValidationFailed
from kernel.http import LARGEST_ID, check_database, readiness_response
from kernel.money import decimal_to_cents
from ordering import api as ordering_api
from payments import api as payments_api
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from . import auth, idempotency
from .models import AuthToken
from .presenters import cart_dict, order_dict
from .schema import ErrorSerializer

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


def _is_staff(request) -> bool:
    return bool(request.user and request.user.is_staff)


def _handles(view, request) -> bool:
    """DRF checks permissions before it looks for the method's handler: without this, an
    anonymous DELETE on a read-only URL would be a 401 instead of a 405."""
    return hasattr(view, request.method.lower())


class IsStaff(BasePermission):
    def has_permission(self, request, view) -> bool:
        return not _handles(view, request) or _is_staff(request)


class IsStaffOrReadOnly(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or not _handles(view, request) or _is_staff(request)


# What the schema says of a price: more than 0, at most two decimals, under a million (the
# API takes 1000000.00 too; a pattern cannot say "up to" a number). DRF's DecimalField would
# be documented as any decimal string, so a "0.00" looked valid.
@extend_schema_field({"type": "string", "pattern": r"^(?=.*[1-9])\d{1,6}(\.\d{1,2})?$"})
class PriceField(serializers.DecimalField):
    pass


def price_field(**kwargs) -> serializers.DecimalField:
    return PriceField(
        max_digits=10,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("1000000.00"),
        error_messages={"min_value": "Price must be greater than 0."},
        **kwargs,
    )


def category_field(**kwargs) -> serializers.RegexField:
    return serializers.RegexField(
        SLUG,
        max_length=50,
        error_messages={"invalid": "Use lower-case letters, digits and hyphens."},
        **kwargs,
    )


# --- the API's root ---------------------------------------------------------------------------
class ApiRootApi(APIView):
    """`GET /api/`: where the resources, the docs and the schema are (API.md, "The API's root").
    Paths, not URLs: they stay true behind the strangler proxy, the gateway or any host name."""

    RESOURCES = {
        "products": "/api/products/",
        "product": "/api/products/{id}/",
        "stock": "/api/inventory/{product_id}/",
        "carts": "/api/carts/",
        "cart": "/api/carts/{id}/",
        "orders": "/api/orders/",
        "order": "/api/orders/{id}/",
        "token": "/api/auth/token/",
        "health": "/api/health/",
    }

    @extend_schema(
        responses=inline_serializer(
            "ApiRoot",
            {
                "stage": serializers.CharField(),
                "resources": inline_serializer(
                    "ApiRootResources",
                    {name: serializers.CharField() for name in RESOURCES},
                ),
                "docs": serializers.CharField(),
                "schema": serializers.CharField(),
            },
        )
    )
    def get(self, request):
        return Response(
            {
                "stage": settings.STAGE,
                "resources": self.RESOURCES,
                "docs": "/api/docs/",
                "schema": "/api/schema/",
            }
        )


# --- health ----------------------------------------------------------------------------------
class HealthApi(APIView):
    @extend_schema(responses=inline_serializer("Health", {"status": serializers.CharField()}))
    def get(self, request):
        return Response({"status": "ok", "stage": settings.STAGE})


def check_broker() -> None:
    with broker.connection() as broker_connection:
        broker.check(broker_connection)


class ReadinessApi(APIView):
    """200 when every dependency answers, else 503 naming the one that does not."""

    # "catalog": with SHOP_CATALOG_BACKEND=grpc, the catalog service's gRPC health check.
    checks = {"database": check_database, "broker": check_broker, "catalog": catalog_api.check}

    @extend_schema(responses=inline_serializer("Readiness", {"status": serializers.CharField()}))
    def get(self, request):
        return readiness_response(self.checks)


# --- catalog ---------------------------------------------------------------------------------
class ProductOutputSerializer(serializers.Serializer):
    """Documents the product shape; the hot read path renders plain dicts instead."""

    id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()
    price = serializers.CharField()
    currency = serializers.CharField()


ProductPageSerializer = inline_serializer(
    "ProductPage",
    {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": ProductOutputSerializer(many=True),
    },
)


class ProductCollectionApi(APIView):
    permission_classes = [IsStaffOrReadOnly]

    class InputSerializer(serializers.Serializer):
        sku = serializers.CharField(max_length=64)
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        category = category_field()
        price = price_field()

    @extend_schema(
        operation_id="products_list",
        parameters=[
            ProductFilterSerializer,
            OpenApiParameter("page", int, description="1, 2, ...; past the last page: 404"),
            # A string: DRF reads a page_size that is not a positive number as the default 20.
            OpenApiParameter(
                "page_size", str, description="1 to 100, larger is 100; anything else is 20"
            ),
        ],
        responses={200: ProductPageSerializer, 404: ErrorSerializer},
    )
    def get(self, request):
        filters = ProductFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        products = catalog_api.product_search(**filters.validated_data)
        return product_page(request, products, view=self)

    @extend_schema(request=InputSerializer, responses={201: ProductOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        product = catalog_api.product_create(
            sku=fields["sku"],
            name=fields["name"],
            description=fields["description"],
            category=fields["category"],
            price_cents=decimal_to_cents(fields["price"]),
        )
        return Response(product_dict(product), status=status.HTTP_201_CREATED)


class ProductDetailApi(APIView):
    permission_classes = [IsStaffOrReadOnly]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        category = category_field(required=False)
        price = price_field(required=False)

    @extend_schema(responses=ProductOutputSerializer)
    def get(self, request, product_id: int):
        return Response(product_dict(catalog_api.product_get(product_id=product_id)))

    @extend_schema(request=InputSerializer, responses=ProductOutputSerializer)
    def patch(self, request, product_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if "price" in fields:
            fields["price_cents"] = decimal_to_cents(fields.pop("price"))
        product = catalog_api.product_update(product_id=product_id, **fields)
        return Response(product_dict(product))


# --- inventory -------------------------------------------------------------------------------
StockOutputSerializer = inline_serializer(
    "Stock", {"product_id": serializers.IntegerField(), "available": serializers.IntegerField()}
)


class StockDetailApi(APIView):
    @extend_schema(responses=StockOutputSerializer)
    def get(self, request, product_id: int):
        available = inventory_api.available(product_id=product_id)
        return Response({"product_id": product_id, "available": available})


class StockRestockApi(APIView):
    permission_classes = [IsStaff]

    class InputSerializer(serializers.Serializer):
        quantity = serializers.IntegerField(min_value=1, max_value=100_000)

    @extend_schema(request=InputSerializer, responses=StockOutputSerializer)
    def post(self, request, product_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        available = inventory_api.restock(product_id=product_id, **data.validated_data)
        return Response({"product_id": product_id, "available": available})


# --- carts -----------------------------------------------------------------------------------
ItemSerializer = inline_serializer(  # the `items` of a cart or an order: a list
    "Item",
    {
        "product_id": serializers.IntegerField(),
        "sku": serializers.CharField(),
        "name": serializers.CharField(),
        "unit_price": serializers.CharField(),
        "quantity": serializers.IntegerField(),
        "line_total": serializers.CharField(),
    },
    many=True,
)
CartOutputSerializer = inline_serializer(
    "Cart",
    {
        "id": serializers.UUIDField(),
        "status": serializers.CharField(),
        "items": ItemSerializer,
        "total": serializers.CharField(),
        "currency": serializers.CharField(),
    },
)


def quantity_field() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=ordering_api.MAX_LINE_QUANTITY)


class CartCreateApi(APIView):
    @extend_schema(request=None, responses={201: CartOutputSerializer})
    def post(self, request):
        return Response(cart_dict(ordering_api.cart_create()), status=status.HTTP_201_CREATED)


class CartDetailApi(APIView):
    @extend_schema(responses=CartOutputSerializer)
    def get(self, request, cart_id: uuid.UUID):
        return Response(cart_dict(ordering_api.cart_get(cart_id=cart_id)))


class CartItemAddApi(APIView):
    class InputSerializer(serializers.Serializer):
        product_id = serializers.IntegerField(min_value=1, max_value=LARGEST_ID)
        quantity = quantity_field()

    @extend_schema(
        request=InputSerializer, responses={201: CartOutputSerializer, 409: ErrorSerializer}
    )
    def post(self, request, cart_id: uuid.UUID):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cart = ordering_api.cart_add_item(cart_id=cart_id, **data.validated_data)
        return Response(cart_dict(cart), status=status.HTTP_201_CREATED)


class CartItemApi(APIView):
    class InputSerializer(serializers.Serializer):
        quantity = quantity_field()

    @extend_schema(
        request=InputSerializer, responses={200: CartOutputSerializer, 409: ErrorSerializer}
    )
    def put(self, request, cart_id: uuid.UUID, product_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cart = ordering_api.cart_set_item_quantity(
            cart_id=cart_id, product_id=product_id, **data.validated_data
        )
        return Response(cart_dict(cart))

    @extend_schema(responses={200: CartOutputSerializer, 409: ErrorSerializer})
    def delete(self, request, cart_id: uuid.UUID, product_id: int):
        cart = ordering_api.cart_remove_item(cart_id=cart_id, product_id=product_id)
        return Response(cart_dict(cart))


# --- orders ----------------------------------------------------------------------------------
OrderOutputSerializer = inline_serializer(
    "Order",
    {
        "id": serializers.UUIDField(),
        "status": serializers.CharField(),
        "email": serializers.EmailField(),
        "items": ItemSerializer,
        "total": serializers.CharField(),
        "currency": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
    },
)


@extend_schema_field({"type": "string", "enum": sorted(payments_api.KNOWN_TOKENS)})
class PaymentTokenField(serializers.CharField):
    """A token of the fake provider; the schema lists them, as a provider's docs would."""


class OrderCreateApi(APIView):
    class InputSerializer(serializers.Serializer):
        cart_id = serializers.UUIDField()
        email = serializers.EmailField()
        payment_token = PaymentTokenField(max_length=64)

        def validate_payment_token(self, token: str) -> str:
            if not payments_api.is_known_token(token):
                raise serializers.ValidationError("Unknown payment token.")
            return token

    class HeaderSerializer(serializers.Serializer):
        key = serializers.CharField(min_length=1, max_length=255, required=False)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OrderOutputSerializer,
            402: ErrorSerializer,
            409: ErrorSerializer,
            422: ErrorSerializer,
        },
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key")
        if key is None:
            order, replayed = ordering_api.place_order(**data.validated_data), False
        else:
            header = self.HeaderSerializer(data={"key": key})
            if not header.is_valid():
                raise serializers.ValidationError({"Idempotency-Key": header.errors["key"]})
            order, replayed = idempotency.place_order_once(
                idempotency_key=key,
                request_fingerprint=hashlib.sha256(
                    json.dumps(request.data, sort_keys=True).encode()
                ).hexdigest(),
                **data.validated_data,
            )
        headers = {"Location": f"/api/orders/{order.id}/"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(order_dict(order), status=status.HTTP_201_CREATED, headers=headers)


class OrderDetailApi(APIView):
    @extend_schema(responses=OrderOutputSerializer)
    def get(self, request, order_id: uuid.UUID):
        return Response(order_dict(ordering_api.order_get(order_id=order_id)))


class OrderCancelApi(APIView):
    @extend_schema(request=None, responses={200: OrderOutputSerializer, 409: ErrorSerializer})
    def post(self, request, order_id: uuid.UUID):
        return Response(order_dict(ordering_api.cancel_order(order_id=order_id)))


# --- staff -----------------------------------------------------------------------------------
class TokenApi(APIView):
    """POST username/password -> a new token; DELETE -> the token sent stops working.

    Failed logins are throttled (edge.auth): DRF checks the throttles before `post`
    runs, and `post` reports each failure to them.
    """

    throttle_classes = [auth.FailedLoginsPerUsername, auth.FailedLoginsPerClient]

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(trim_whitespace=False)

    @extend_schema(
        request=InputSerializer,
        responses=inline_serializer(
            "Token", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}
        ),
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request=request, **data.validated_data)
        if user is None:
            for throttle in self.get_throttles():
                throttle.record_failure(request, self)
            raise ValidationFailed(
                "non_field_errors", "Unable to log in with provided credentials."
            )
        key, token = auth.issue_token(user=user)
        return Response({"token": key, "expires_at": token.expires_at})

    @extend_schema(request=None, responses={204: None, 401: ErrorSerializer})
    def delete(self, request):
        if not isinstance(request.auth, AuthToken):
            raise exceptions.NotAuthenticated(
                "Send the token to revoke: Authorization: Token <key>."
            )
        request.auth.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
