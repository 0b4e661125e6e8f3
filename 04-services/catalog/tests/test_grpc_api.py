"""shop.catalog.v1.CatalogService over a real channel to an in-process server: every RPC,
called through chassis.clients.catalog as the gateway and the orders service call it, so that
each error is seen as the caller sees it (decoded back into the chassis's exception), and the
status codes the contract names, seen on a plain channel."""

import grpc
import pytest
from chassis import clients
from chassis.errors import NotFound, ValidationFailed
from google.protobuf.field_mask_pb2 import FieldMask
from grpc_health.v1 import health_pb2, health_pb2_grpc
from shop.catalog.v1 import catalog_pb2

from catalog import products

from .conftest import make_product

pytestmark = pytest.mark.django_db(transaction=True)  # the servicer runs in the server's threads

KETTLE = catalog_pb2.Product(
    sku="KI-0001", name="Kettle", description="Boils.", category="kitchen", price_cents=1250
)


@pytest.fixture
def catalog(catalog_target):
    """The client every caller of the catalog uses, pointed at the in-process server."""
    return clients.catalog


def raised(call, method: str, request) -> Exception:
    with pytest.raises(Exception) as error:
        call(method, request)
    return error.value


# --- GetProduct ------------------------------------------------------------------------------
def test_get_product_answers_the_product_with_its_currency(catalog):
    kettle = make_product(sku="KI-0001", name="Kettle", category="kitchen", price_cents=1250)

    answer = catalog.call("GetProduct", catalog_pb2.GetProductRequest(id=kettle.id))

    assert answer == catalog_pb2.Product(
        id=kettle.id,
        sku="KI-0001",
        name="Kettle",
        category="kitchen",
        price_cents=1250,
        currency="EUR",
    )


def test_get_product_of_an_unknown_id_is_not_found(catalog):
    error = raised(catalog.call, "GetProduct", catalog_pb2.GetProductRequest(id=2**62))

    assert type(error) is NotFound
    assert error.message == f"No product with id {2**62}."


# --- BatchGetProducts ------------------------------------------------------------------------
def test_batch_get_answers_in_request_order_each_once_leaving_unknown_ids_out(catalog):
    first, second = make_product(), make_product()
    request = catalog_pb2.BatchGetProductsRequest(ids=[second.id, 2**62, first.id, second.id])

    answer = catalog.call("BatchGetProducts", request)

    assert [product.id for product in answer.products] == [second.id, first.id]


def test_batch_get_of_more_than_1000_ids_is_invalid(catalog):
    request = catalog_pb2.BatchGetProductsRequest(ids=range(1001))

    error = raised(catalog.call, "BatchGetProducts", request)

    assert type(error) is ValidationFailed
    assert error.fields == {"ids": ["Ask for at most 1000 ids at a time."]}


# --- ListProducts ----------------------------------------------------------------------------
def test_list_defaults_to_page_1_of_20_and_gives_the_total(catalog):
    ids = [make_product().id for _ in range(25)]

    answer = catalog.call("ListProducts", catalog_pb2.ListProductsRequest())

    assert [product.id for product in answer.products] == ids[:20]
    assert answer.total_count == 25


def test_list_pages_filters_and_caps_the_page_size(catalog):
    teapots = [make_product(name=f"Teapot {n}", category="tea").id for n in range(5)]
    make_product(name="Kettle", category="tea")
    make_product(name="Garden thing", description="Not a TEAPOT.", category="garden")

    page_2 = catalog.call(
        "ListProducts",
        catalog_pb2.ListProductsRequest(page=2, page_size=2, query="teapot", category="tea"),
    )
    everywhere = catalog.call("ListProducts", catalog_pb2.ListProductsRequest(query="TeaPot"))
    capped = catalog.call("ListProducts", catalog_pb2.ListProductsRequest(page_size=1000))

    assert [product.id for product in page_2.products] == teapots[2:4]
    assert page_2.total_count == 5
    assert everywhere.total_count == 6  # the name or the description, in any case
    assert len(capped.products) == 7  # every product: a page of (at most) 100


def test_a_page_past_the_end_is_empty_with_the_total(catalog):
    make_product()

    answer = catalog.call("ListProducts", catalog_pb2.ListProductsRequest(page=9))

    assert list(answer.products) == []
    assert answer.total_count == 1


def test_a_negative_page_or_page_size_is_invalid(catalog):
    request = catalog_pb2.ListProductsRequest(page=-1, page_size=-5)

    error = raised(catalog.call, "ListProducts", request)

    assert type(error) is ValidationFailed
    assert list(error.fields) == ["page", "page_size"]


# --- CreateProduct ---------------------------------------------------------------------------
def test_create_product_gives_it_an_id_and_creates_its_category(catalog):
    answer = catalog.call("CreateProduct", catalog_pb2.CreateProductRequest(product=KETTLE))

    assert answer.id > 0
    assert answer.currency == "EUR"
    assert products.get(product_id=answer.id).category == "kitchen"
    assert catalog.call("GetProduct", catalog_pb2.GetProductRequest(id=answer.id)) == answer


def test_create_product_with_invalid_fields_names_each_of_them(catalog):
    invalid = catalog_pb2.Product(
        sku="", name="x" * 201, category="Not A Slug", price_cents=0, currency="USD"
    )

    error = raised(catalog.call, "CreateProduct", catalog_pb2.CreateProductRequest(product=invalid))

    assert type(error) is ValidationFailed
    assert error.fields == {
        "sku": ["This field may not be blank."],
        "name": ["Ensure this field has no more than 200 characters."],
        "category": ["Use lower-case letters, digits and hyphens."],
        "price_cents": ["Price must be greater than 0."],
        "currency": ["Prices are in EUR."],
    }


def test_a_price_above_the_api_limit_is_invalid(catalog):
    yacht = catalog_pb2.Product(sku="X-1", name="Yacht", category="boats", price_cents=10**8 + 1)

    error = raised(catalog.call, "CreateProduct", catalog_pb2.CreateProductRequest(product=yacht))

    assert error.fields == {
        "price_cents": ["Ensure this value is less than or equal to 1000000.00."]
    }


def test_a_duplicate_sku_is_a_validation_error_on_sku(catalog):
    catalog.call("CreateProduct", catalog_pb2.CreateProductRequest(product=KETTLE))

    error = raised(catalog.call, "CreateProduct", catalog_pb2.CreateProductRequest(product=KETTLE))

    assert type(error) is ValidationFailed
    assert error.fields == {"sku": ["A product with this sku already exists."]}
    assert products.search(q="Kettle").total == 1


# --- UpdateProduct ---------------------------------------------------------------------------
def test_update_changes_only_the_fields_in_the_mask(catalog):
    kettle = make_product(name="Kettle", description="Boils.", category="kitchen", price_cents=100)
    request = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(
            id=kettle.id, name="Ignored", description="", category="tea", price_cents=250
        ),
        update_mask=FieldMask(paths=["description", "category", "price_cents"]),
    )

    answer = catalog.call("UpdateProduct", request)

    assert (answer.name, answer.description, answer.category, answer.price_cents) == (
        "Kettle",
        "",
        "tea",
        250,
    )
    assert answer.sku == kettle.sku
    assert catalog.call("GetProduct", catalog_pb2.GetProductRequest(id=kettle.id)) == answer


@pytest.mark.parametrize("path", ["sku", "id", "currency", "colour"])
def test_update_refuses_a_field_it_cannot_change(catalog, path):
    kettle = make_product()
    request = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(id=kettle.id, sku="NEW-1"),
        update_mask=FieldMask(paths=["name", path]),
    )

    error = raised(catalog.call, "UpdateProduct", request)

    assert type(error) is ValidationFailed
    assert list(error.fields) == ["update_mask"]
    assert products.get(product_id=kettle.id) == kettle


def test_update_checks_the_values_it_changes(catalog):
    kettle = make_product()
    request = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(id=kettle.id, name="", price_cents=-1, currency="USD"),
        update_mask=FieldMask(paths=["name", "price_cents"]),
    )

    error = raised(catalog.call, "UpdateProduct", request)

    assert list(error.fields) == ["name", "price_cents", "currency"]  # a price's currency
    assert products.get(product_id=kettle.id) == kettle


def test_update_of_an_unknown_product_is_not_found(catalog):
    request = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(id=2**62, name="Ghost"), update_mask=FieldMask(paths=["name"])
    )

    assert type(raised(catalog.call, "UpdateProduct", request)) is NotFound


# --- the status codes of the contract --------------------------------------------------------
def test_each_error_travels_with_the_status_code_the_contract_names(catalog_stub):
    kettle = make_product(sku="KI-0001")
    duplicate = catalog_pb2.CreateProductRequest(product=KETTLE)
    calls = {
        grpc.StatusCode.NOT_FOUND: (
            catalog_stub.GetProduct,
            catalog_pb2.GetProductRequest(id=kettle.id + 1),
        ),
        grpc.StatusCode.INVALID_ARGUMENT: (
            catalog_stub.ListProducts,
            catalog_pb2.ListProductsRequest(page=-1),
        ),
        grpc.StatusCode.ALREADY_EXISTS: (catalog_stub.CreateProduct, duplicate),
    }

    for code, (call, request) in calls.items():
        with pytest.raises(grpc.RpcError) as error:
            call(request, timeout=5)
        assert error.value.code() == code


# --- the standard services -------------------------------------------------------------------
@pytest.mark.parametrize("service", ["", "shop.catalog.v1.CatalogService"])
def test_the_health_service_answers_serving(catalog_channel, service):
    request = health_pb2.HealthCheckRequest(service=service)

    answer = health_pb2_grpc.HealthStub(catalog_channel).Check(request, timeout=5)

    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_the_clients_health_check_passes(catalog):
    assert catalog.check() is None  # raises ServiceUnavailable when not SERVING
