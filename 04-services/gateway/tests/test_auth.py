"""Staff authentication, which the gateway owns at stage 04: HTTP Basic, tokens from
/api/auth/token/, and what a non-staff user or an anonymous client gets on a staff endpoint.
(Restock is the staff endpoint used here.)"""

import pytest
from rest_framework.authtoken.models import Token
from shop.inventory.v1 import inventory_pb2

from .clients import basic_auth
from .conftest import make_user
from .messages import a_product

TOKEN = "/api/auth/token/"


@pytest.fixture(autouse=True)
def restockable(services):
    services.catalog.answer("GetProduct", a_product(id=7))
    services.inventory.answer("Restock", inventory_pb2.StockLevel(product_id=7, available=1))


def restock(client):
    return client.post("/api/inventory/7/restock/", {"quantity": 1})


def test_staff_get_a_token_that_then_authenticates(api_client, db):
    user = make_user(username="staff", password="staff-password", is_staff=True)

    response = api_client.post(TOKEN, {"username": "staff", "password": "staff-password"})

    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=user).key}
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert restock(api_client).status_code == 200


def test_asking_twice_returns_the_same_token(api_client, db):
    make_user(username="staff", password="staff-password", is_staff=True)
    credentials = {"username": "staff", "password": "staff-password"}

    first = api_client.post(TOKEN, credentials).json()["token"]

    assert api_client.post(TOKEN, credentials).json()["token"] == first


def test_wrong_credentials_get_no_token(api_client, db):
    make_user(username="staff", password="staff-password", is_staff=True)

    response = api_client.post(TOKEN, {"username": "staff", "password": "guess"})

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "validation_error",
            "message": "The request is not valid.",
            "fields": {"non_field_errors": ["Unable to log in with provided credentials."]},
        }
    }
    assert not Token.objects.exists()


def test_asking_for_a_token_without_a_password_names_the_field(api_client, db):
    response = api_client.post(TOKEN, {"username": "staff"})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["password"]


def test_a_staff_endpoint_without_credentials_is_401_with_a_basic_challenge(api_client, services):
    response = restock(api_client)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
        }
    }
    assert services.inventory.calls == []


def test_a_wrong_password_is_401(api_client, db):
    make_user(username="staff", password="staff-password", is_staff=True)
    api_client.credentials(HTTP_AUTHORIZATION=basic_auth("staff", "guess"))

    response = restock(api_client)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_an_unknown_token_is_401(api_client, db):
    api_client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    response = restock(api_client)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_revoked_token_stops_working(api_client, db):
    user = make_user(username="staff", password="staff-password", is_staff=True)
    token = Token.objects.create(user=user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert restock(api_client).status_code == 200

    token.delete()

    assert restock(api_client).status_code == 401


def test_a_user_who_is_not_staff_is_403_whatever_the_scheme(api_client, services, db):
    customer = make_user(username="customer", password="customer-password")

    api_client.credentials(HTTP_AUTHORIZATION=basic_auth("customer", "customer-password"))
    by_password = restock(api_client)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=customer).key}")
    by_token = restock(api_client)

    for response in (by_password, by_token):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert services.inventory.calls == []
