"""shop.catalog.v1.CatalogService over a real channel to an in-process server: every RPC,
every status code the contract names, and the field violations that come with them."""

import logging

import grpc
import pytest
from django.db import OperationalError
from google.protobuf.field_mask_pb2 import FieldMask
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status
from kernel.errors import NotFound
from kernel.request_ids import request_id_var
from shop.catalog.v1 import catalog_pb2

from catalog_service import products

from .conftest import make_product

pytestmark = pytest.mark.django_db(transaction=True)  # the servicer runs in the server's threads

KETTLE = catalog_pb2.Product(
    sku="KI-0001", name="Kettle", description="Boils.", category="kitchen", price_cents=1250
)


def violations(error: grpc.RpcError) -> dict[str, list[str]]:
    """The google.rpc.BadRequest field violations in a failed call's status details."""
    status = rpc_status.from_call(error)
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    found: dict[str, list[str]] = {}
    for violation in bad_request.field_violations:
        found.setdefault(violation.field, []).append(violation.description)
    return found


def fails(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=5)
    return raised.value


# --- GetProduct ------------------------------------------------------------------------------
def test_get_product_answers_the_product_with_its_currency(catalog):
    kettle = make_product(sku="KI-0001", name="Kettle", category="kitchen", price_cents=1250)

    answer = catalog.GetProduct(catalog_pb2.GetProductRequest(id=kettle.id), timeout=5)

    assert answer == catalog_pb2.Product(
        id=kettle.id,
        sku="KI-0001",
        name="Kettle",
        category="kitchen",
        price_cents=1250,
        currency="EUR",
    )


def test_get_product_of_an_unknown_id_is_not_found(catalog):
    error = fails(catalog.GetProduct, catalog_pb2.GetProductRequest(id=2**62))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == f"No product with id {2**62}."


# --- BatchGetProducts ------------------------------------------------------------------------
def test_batch_get_answers_in_request_order_each_once_leaving_unknown_ids_out(catalog):
    first, second = make_product(), make_product()
    request = catalog_pb2.BatchGetProductsRequest(ids=[second.id, 2**62, first.id, second.id])

    answer = catalog.BatchGetProducts(request, timeout=5)

    assert [product.id for product in answer.products] == [second.id, first.id]


def test_batch_get_of_more_than_1000_ids_is_invalid(catalog):
    error = fails(catalog.BatchGetProducts, catalog_pb2.BatchGetProductsRequest(ids=range(1001)))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(violations(error)) == ["ids"]


# --- ListProducts ----------------------------------------------------------------------------
def test_list_defaults_to_page_1_of_20_and_gives_the_total(catalog):
    ids = [make_product().id for _ in range(25)]

    answer = catalog.ListProducts(catalog_pb2.ListProductsRequest(), timeout=5)

    assert [product.id for product in answer.products] == ids[:20]
    assert answer.total_count == 25


def test_list_pages_filters_and_caps_the_page_size(catalog):
    teapots = [make_product(name=f"Teapot {n}", category="tea").id for n in range(5)]
    make_product(name="Kettle", category="tea")
    make_product(name="Teapot elsewhere", category="garden")

    page_2 = catalog.ListProducts(
        catalog_pb2.ListProductsRequest(page=2, page_size=2, query="TEAPOT", category="tea"),
        timeout=5,
    )
    capped = catalog.ListProducts(catalog_pb2.ListProductsRequest(page_size=1000), timeout=5)

    assert [product.id for product in page_2.products] == teapots[2:4]
    assert page_2.total_count == 5
    assert len(capped.products) == 7  # every product: a page of (at most) 100


def test_a_page_past_the_end_is_empty_with_the_total(catalog):
    make_product()

    answer = catalog.ListProducts(catalog_pb2.ListProductsRequest(page=9), timeout=5)

    assert list(answer.products) == []
    assert answer.total_count == 1


def test_a_negative_page_or_page_size_is_invalid(catalog):
    error = fails(catalog.ListProducts, catalog_pb2.ListProductsRequest(page=-1, page_size=-5))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(violations(error)) == ["page", "page_size"]


# --- CreateProduct ---------------------------------------------------------------------------
def test_create_product_gives_it_an_id_and_creates_its_category(catalog):
    answer = catalog.CreateProduct(catalog_pb2.CreateProductRequest(product=KETTLE), timeout=5)

    assert answer.id > 0
    assert answer.currency == "EUR"
    assert products.get(product_id=answer.id).category == "kitchen"
    assert catalog.GetProduct(catalog_pb2.GetProductRequest(id=answer.id), timeout=5) == answer


def test_create_product_with_invalid_fields_names_each_of_them(catalog):
    invalid = catalog_pb2.Product(
        sku="",
        name="x" * 201,
        category="Not A Slug",
        price_cents=0,
        currency="USD",
    )

    error = fails(catalog.CreateProduct, catalog_pb2.CreateProductRequest(product=invalid))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(error) == {
        "sku": ["This field may not be blank."],
        "name": ["Ensure this field has no more than 200 characters."],
        "category": ["Use lower-case letters, digits and hyphens."],
        "price_cents": ["Price must be greater than 0."],
        "currency": ["Prices are in EUR."],
    }


def test_a_price_above_the_api_limit_is_invalid(catalog):
    expensive = catalog_pb2.Product(
        sku="X-1", name="Yacht", category="boats", price_cents=10**8 + 1
    )

    error = fails(catalog.CreateProduct, catalog_pb2.CreateProductRequest(product=expensive))

    assert violations(error) == {
        "price_cents": ["Ensure this value is less than or equal to 1000000.00."]
    }


def test_a_duplicate_sku_already_exists_with_a_violation_on_sku(catalog):
    catalog.CreateProduct(catalog_pb2.CreateProductRequest(product=KETTLE), timeout=5)

    error = fails(catalog.CreateProduct, catalog_pb2.CreateProductRequest(product=KETTLE))

    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert violations(error) == {"sku": ["A product with this sku already exists."]}


# --- UpdateProduct ---------------------------------------------------------------------------
def test_update_changes_only_the_fields_in_the_mask(catalog):
    kettle = make_product(name="Kettle", description="Boils.", category="kitchen", price_cents=100)
    request = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(
            id=kettle.id, name="Ignored", description="", category="tea", price_cents=250
        ),
        update_mask=FieldMask(paths=["description", "category", "price_cents"]),
    )

    answer = catalog.UpdateProduct(request, timeout=5)

    assert (answer.name, answer.description, answer.category, answer.price_cents) == (
        "Kettle",
        "",
        "tea",
        250,
    )
    assert answer.sku == kettle.sku
    assert catalog.GetProduct(catalog_pb2.GetProductRequest(id=kettle.id), timeout=5) == answer


@pytest.mark.parametrize("path", ["sku", "id", "currency", "colour"])
def test_update_refuses_a_field_it_cannot_change(catalog, path):
    kettle = make_product()
    request = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(id=kettle.id, sku="NEW-1"),
        update_mask=FieldMask(paths=["name", path]),
    )

    error = fails(catalog.UpdateProduct, request)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(violations(error)) == ["update_mask"]
    assert products.get(product_id=kettle.id) == kettle


def test_update_checks_the_values_it_changes(catalog):
    kettle = make_product()
    request = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(id=kettle.id, name="", price_cents=-1, currency="USD"),
        update_mask=FieldMask(paths=["name", "price_cents"]),
    )

    error = fails(catalog.UpdateProduct, request)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(violations(error)) == ["name", "price_cents", "currency"]  # a price's currency
    assert products.get(product_id=kettle.id) == kettle


def test_update_of_an_unknown_product_is_not_found(catalog):
    request = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(id=2**62, name="Ghost"), update_mask=FieldMask(paths=["name"])
    )

    assert fails(catalog.UpdateProduct, request).code() == grpc.StatusCode.NOT_FOUND


# --- failures --------------------------------------------------------------------------------
def test_an_unexpected_error_is_internal_and_logged_and_the_server_goes_on(
    catalog, monkeypatch, caplog
):
    kettle = make_product()

    def broken(**kwargs):
        raise RuntimeError("a bug")

    with monkeypatch.context() as patch, caplog.at_level(logging.ERROR):
        patch.setattr(products, "get", broken)
        error = fails(catalog.GetProduct, catalog_pb2.GetProductRequest(id=kettle.id))

    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == "Something went wrong on our side."
    [record] = caplog.records
    assert "event=grpc_internal_error method=GetProduct" in record.getMessage()
    assert "RuntimeError: a bug" in caplog.text  # the traceback
    request = catalog_pb2.GetProductRequest(id=kettle.id)
    assert catalog.GetProduct(request, timeout=5).id == kettle.id  # the next call is served


def test_a_database_that_does_not_answer_is_unavailable(catalog, monkeypatch):
    def database_down(**kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(products, "get", database_down)

    error = fails(catalog.GetProduct, catalog_pb2.GetProductRequest(id=1))

    assert error.code() == grpc.StatusCode.UNAVAILABLE


def test_the_callers_request_id_is_the_calls_request_id(catalog, monkeypatch):
    seen = []

    def get(**kwargs):
        seen.append(request_id_var.get())
        raise NotFound()

    monkeypatch.setattr(products, "get", get)
    request = catalog_pb2.GetProductRequest(id=1)
    with pytest.raises(grpc.RpcError):
        catalog.GetProduct(request, timeout=5, metadata=[("x-request-id", "req-7")])

    assert seen == ["req-7"]


# --- the standard services -------------------------------------------------------------------
@pytest.mark.parametrize("service", ["", "shop.catalog.v1.CatalogService"])
def test_the_health_service_answers_serving(catalog_channel, service):
    request = health_pb2.HealthCheckRequest(service=service)

    answer = health_pb2_grpc.HealthStub(catalog_channel).Check(request, timeout=5)

    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_catalog_service(catalog_channel):
    services = ProtoReflectionDescriptorDatabase(catalog_channel).get_services()

    assert "shop.catalog.v1.CatalogService" in services
    assert "grpc.health.v1.Health" in services
