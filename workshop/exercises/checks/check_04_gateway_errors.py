"""Check of exercise 04-gateway-errors: a gRPC status that carries no google.rpc.ErrorInfo (a
service not built on the chassis, which follows only proto/README.md's table of codes) still
becomes the API's error its code names: NOT_FOUND a 404 not_found, INVALID_ARGUMENT and
ALREADY_EXISTS a 400 validation_error with the fields of its BadRequest. Any other code stays
a 500 internal_error, and the statuses the chassis's services send map as before. A status
that carries an ErrorInfo is read by its reason, whatever its code: the code names the error
only roughly, the reason exactly.

The gateway runs in-process (DRF's test client) in front of the gateway tests' fake services;
for the new cases the catalog is replaced by `ForeignCatalog` below, a servicer that ends
every call with the status a test gives it, as a service in another language would.
"""

import json

import pytest
from chassis.errors import OutOfStock
from chassis.grpc_server import registers
from chassis.testing import running_server
from gateway.tests.messages import a_product
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from shop.catalog.v1 import catalog_pb2_grpc

# The gateway tests' fixtures: services (the fake services, autouse), api_client, staff_client.
pytest_plugins = ["gateway.tests.conftest"]

CATALOG = "shop.catalog.v1.CatalogService"
NEW_PRODUCT = {
    "sku": "KI-0001",
    "name": "Kettle",
    "description": "Boils.",
    "category": "kitchen",
    "price": "12.50",
}
INTERNAL = {"error": {"code": "internal_error", "message": "Something went wrong on our side."}}


class ForeignCatalog(catalog_pb2_grpc.CatalogServiceServicer):
    """A catalog service in another language: it ends GetProduct and CreateProduct with the
    status it is given, a code and maybe a BadRequest, never an ErrorInfo."""

    status = status_pb2.Status(code=code_pb2.INTERNAL)

    def GetProduct(self, request, context):  # noqa: N802 (gRPC's method names)
        context.abort_with_status(rpc_status.to_status(self.status))

    CreateProduct = GetProduct


def error_info(reason: str, details: dict | None = None) -> any_pb2.Any:
    detail = any_pb2.Any()
    metadata = {"details": json.dumps(details)} if details else {}
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="shop", metadata=metadata))
    return detail


def bad_request(*violations: tuple[str, str]) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=field, description=why)
                for field, why in violations
            ]
        )
    )
    return detail


@pytest.fixture
def foreign_catalog(services, settings):
    """The gateway's catalog client pointed at a ForeignCatalog (the other fakes stay)."""
    servicer = ForeignCatalog()

    @registers(CATALOG)
    def register(server):
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, server)

    with running_server(register) as target:
        settings.SHOP_GRPC_TARGETS = {**settings.SHOP_GRPC_TARGETS, "catalog": target}
        yield servicer


@pytest.mark.parametrize(
    ("message", "shown"),
    [("No product with id 7.", "No product with id 7."), ("", "Not found.")],
    ids=["with-a-message", "without-one"],
)
def test_a_not_found_without_error_info_is_a_404(api_client, foreign_catalog, message, shown):
    foreign_catalog.status = status_pb2.Status(code=code_pb2.NOT_FOUND, message=message)

    response = api_client.get("/api/products/7/")

    assert response.status_code == 404, (
        f"a NOT_FOUND without an ErrorInfo answered {response.status_code}, not 404: "
        "from_rpc_error (chassis/grpc_errors.py) should read the status code when no "
        "ErrorInfo names the error"
    )
    assert response.json() == {"error": {"code": "not_found", "message": shown}}, (
        "the envelope should carry code not_found and the status's own message (NotFound's "
        '"Not found." when the status has none)'
    )


def test_invalid_argument_fields_reach_the_envelope_under_the_apis_names(
    staff_client, foreign_catalog
):
    foreign_catalog.status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message="The request is not valid.",
        details=[
            bad_request(
                ("price_cents", "Must be greater than 0."),
                ("name", "Too long."),
                ("name", "Not printable."),
            )
        ],
    )

    response = staff_client.post("/api/products/", NEW_PRODUCT)

    assert response.status_code == 400, (
        f"an INVALID_ARGUMENT without an ErrorInfo answered {response.status_code}, not 400: "
        "from_rpc_error (chassis/grpc_errors.py) should read the status code when no "
        "ErrorInfo names the error"
    )
    error = response.json()["error"]
    assert error["code"] == "validation_error", f"code is {error['code']!r}"
    assert error.get("fields") == {
        "price": ["Must be greater than 0."],
        "name": ["Too long.", "Not printable."],
    }, (
        f"fields are {error.get('fields')!r}: every violation of the BadRequest should reach "
        "`fields`, in order, and price_cents should read `price` as the API names it (the "
        "catalog adapter renames the fields of a ValidationFailed)"
    )
    assert error["message"] == "The request is not valid."


def test_already_exists_is_a_validation_error_on_its_field(staff_client, foreign_catalog):
    foreign_catalog.status = status_pb2.Status(
        code=code_pb2.ALREADY_EXISTS,
        message="The request is not valid.",
        details=[bad_request(("sku", "A product with this sku already exists."))],
    )

    response = staff_client.post("/api/products/", NEW_PRODUCT)

    assert response.status_code == 400, (
        f"an ALREADY_EXISTS without an ErrorInfo answered {response.status_code}, not 400 "
        "(API.md: a duplicate sku is a 400 on sku)"
    )
    assert response.json()["error"] == {
        "code": "validation_error",
        "message": "The request is not valid.",
        "fields": {"sku": ["A product with this sku already exists."]},
    }


def test_an_invalid_argument_without_fields_names_no_field(staff_client, foreign_catalog):
    foreign_catalog.status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT, message="Products need a name."
    )

    response = staff_client.post("/api/products/", NEW_PRODUCT)

    assert response.status_code == 400, f"expected 400, got {response.status_code}"
    assert response.json()["error"] == {
        "code": "validation_error",
        "message": "Products need a name.",
        "fields": {"non_field_errors": ["Products need a name."]},
    }, "with no BadRequest, the message goes under fields.non_field_errors"


@pytest.mark.parametrize(
    "code",
    # Not UNKNOWN or CANCELLED: without an ErrorInfo they mean the server went away mid-call,
    # a 503 the chassis gives already (chassis/grpc_errors.py:UNAVAILABLE).
    [code_pb2.FAILED_PRECONDITION, code_pb2.PERMISSION_DENIED, code_pb2.UNIMPLEMENTED],
    ids=lambda code: code_pb2.Code.Name(code),
)
def test_other_codes_without_error_info_stay_internal_errors(api_client, foreign_catalog, code):
    foreign_catalog.status = status_pb2.Status(code=code, message="secret internals")

    response = api_client.get("/api/products/7/")

    assert (response.status_code, response.json()) == (500, INTERNAL), (
        f"{code_pb2.Code.Name(code)} without an ErrorInfo answered {response.status_code} "
        f"{response.json()}: only NOT_FOUND, INVALID_ARGUMENT and ALREADY_EXISTS name an "
        "error by themselves; any other code stays 500 internal_error, with no new error code"
    )


def test_the_chassis_services_errors_map_as_before(api_client, services):
    shortages = [{"product_id": 3, "requested": 5, "available": 2}]
    services.catalog.answer("GetProduct", OutOfStock(shortages))
    out_of_stock = api_client.get("/api/products/1/")

    services.catalog.answer("GetProduct", a_product(id=1))
    found = api_client.get("/api/products/1/", HTTP_X_REQUEST_ID="check-04")

    assert out_of_stock.status_code == 409, f"out_of_stock answered {out_of_stock.status_code}"
    assert out_of_stock.json() == {
        "error": {
            "code": "out_of_stock",
            "message": "Not enough stock for this order.",
            "details": {"shortages": shortages},
        }
    }, "an ErrorInfo's reason still decides the error, whatever the status code"
    assert found.status_code == 200 and found.json()["id"] == 1, "a product read broke"
    assert found["X-Request-ID"] == "check-04", "the request id no longer comes back"


@pytest.mark.parametrize(
    ("code", "reason", "details", "expected"),
    [
        (
            code_pb2.ALREADY_EXISTS,
            "idempotency_key_reused",
            None,
            (422, {"code": "idempotency_key_reused", "message": "This key was used before."}),
        ),
        (
            code_pb2.INVALID_ARGUMENT,
            "out_of_stock",
            {"shortages": [{"product_id": 7, "requested": 2, "available": 0}]},
            (
                409,
                {
                    "code": "out_of_stock",
                    "message": "Not enough stock for this order.",
                    "details": {"shortages": [{"product_id": 7, "requested": 2, "available": 0}]},
                },
            ),
        ),
        (
            code_pb2.NOT_FOUND,
            "cart_closed",
            None,
            (409, {"code": "cart_closed", "message": "This cart is checked out."}),
        ),
    ],
    ids=["already-exists-reused-key", "invalid-argument-out-of-stock", "not-found-cart-closed"],
)
def test_an_error_info_decides_whatever_the_status_code(
    staff_client, foreign_catalog, code, reason, details, expected
):
    message = expected[1]["message"]
    foreign_catalog.status = status_pb2.Status(
        code=code, message=message, details=[error_info(reason, details)]
    )

    response = staff_client.post("/api/products/", NEW_PRODUCT)

    assert (response.status_code, response.json()["error"]) == expected, (
        f"a {code_pb2.Code.Name(code)} whose ErrorInfo says {reason!r} answered "
        f"{response.status_code} {response.json()}: the ErrorInfo names the error exactly and "
        "the code only roughly, so read the code only when there is no ErrorInfo"
    )


def test_a_service_that_cannot_take_the_call_is_still_a_503_with_retry_after(
    api_client, foreign_catalog
):
    foreign_catalog.status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message="overloaded")

    response = api_client.get("/api/products/7/")

    assert response.status_code == 503, f"UNAVAILABLE answered {response.status_code}, not 503"
    assert response["Retry-After"] == "5", "a 503 sets Retry-After (API.md)"
    assert response.json()["error"]["code"] == "service_unavailable"
