"""Staff authentication: HTTP Basic, tokens from /api/auth/token/ (a new one per login, ending
with its lifetime, a revocation or a password change), the throttle on failed logins, and
what a non-staff user or an anonymous client gets on a staff endpoint. (Restock is the staff
endpoint used here.)"""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from shop.api import auth
from shop.models import AuthToken

from .clients import ShopClient, basic_auth
from .factories import make_token, make_user

TOKEN = "/api/auth/token/"


def restock(client, product):
    return client.post(f"/api/inventory/{product.id}/restock/", {"quantity": 1})


def login(client, username="staff", password="staff-password", **headers):
    return client.post(TOKEN, {"username": username, "password": password}, **headers)


def test_staff_get_a_token_that_then_authenticates(api_client, make_product, settings):
    make_user(username="staff", password="staff-password", is_staff=True)
    product = make_product(stock=0)
    lifetime = timedelta(seconds=settings.SHOP_TOKEN_LIFETIME)
    before = timezone.now()

    response = login(api_client)

    assert response.status_code == 200
    assert set(response.json()) == {"token", "expires_at"}
    expires_at = parse_datetime(response.json()["expires_at"])
    assert before + lifetime <= expires_at <= timezone.now() + lifetime
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert restock(api_client, product).status_code == 200


def test_every_login_gets_a_token_of_its_own(api_client, make_product):
    make_user(username="staff", password="staff-password", is_staff=True)
    product = make_product()

    first, second = (login(api_client).json()["token"] for _ in range(2))

    assert first != second
    for token in (first, second):
        api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert restock(api_client, product).status_code == 200


def test_the_database_keeps_no_token_only_its_digest(api_client, db):
    make_user(username="staff", password="staff-password", is_staff=True)

    token = login(api_client).json()["token"]

    stored = AuthToken.objects.get()
    assert token not in {stored.digest, stored.password_stamp}


def test_a_token_stops_working_when_its_lifetime_is_over(api_client, make_product, settings):
    user = make_user(username="staff", password="staff-password", is_staff=True)
    key, _ = auth.issue_token(
        user=user, now=timezone.now() - timedelta(seconds=settings.SHOP_TOKEN_LIFETIME + 1)
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    response = restock(api_client, make_product())

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "not_authenticated",
        "message": "Invalid or expired token.",
    }


def test_delete_revokes_the_token_sent_and_only_that_one(api_client, make_product):
    user = make_user(username="staff", password="staff-password", is_staff=True)
    revoked, kept = make_token(user), make_token(user)
    product = make_product()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {revoked}")

    response = api_client.delete(TOKEN)

    assert response.status_code == 204
    assert restock(api_client, product).status_code == 401
    assert api_client.delete(TOKEN).status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {kept}")
    assert restock(api_client, product).status_code == 200


@pytest.mark.parametrize("credentials", [None, basic_auth("staff", "staff-password")])
def test_delete_without_a_token_is_401(api_client, db, credentials):
    make_user(username="staff", password="staff-password", is_staff=True)
    if credentials:
        api_client.credentials(HTTP_AUTHORIZATION=credentials)

    response = api_client.delete(TOKEN)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_password_change_ends_every_token_of_the_user(api_client, make_product):
    user = make_user(username="staff", password="staff-password", is_staff=True)
    other = make_user(username="other", password="other-password", is_staff=True)
    tokens, others_token = [make_token(user), make_token(user)], make_token(other)
    product = make_product()

    user.set_password("a-new-password")
    user.save()

    for token in tokens:
        api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert restock(api_client, product).status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {others_token}")
    assert restock(api_client, product).status_code == 200
    api_client.credentials()
    assert login(api_client, password="a-new-password").status_code == 200


def test_a_login_clears_away_the_users_dead_tokens(api_client, settings, db):
    user = make_user(username="staff", password="staff-password", is_staff=True)
    auth.issue_token(
        user=user, now=timezone.now() - timedelta(seconds=settings.SHOP_TOKEN_LIFETIME + 1)
    )
    auth.issue_token(user=user)

    login(api_client)

    assert AuthToken.objects.filter(user=user).count() == 2  # the live one and the new one


# --- throttled failures (settings: 5 per username, 20 per client, per minute) ----------------
# The throttles count in the cache, a table of the test database: each test's transaction,
# rolled back at its end, takes its counts with it.
def test_failed_logins_for_one_username_are_throttled_with_retry_after(api_client, db):
    make_user(username="staff", password="staff-password", is_staff=True)
    failures = [login(api_client, password=f"guess-{attempt}") for attempt in range(5)]

    throttled = login(api_client, password="guess-6")

    assert [response.status_code for response in failures] == [400] * 5
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert throttled.json() == {
        "error": {
            "code": "throttled",
            "message": f"Too many attempts; try again in {throttled['Retry-After']} seconds.",
        }
    }
    # The right password too, now: otherwise a guesser would still learn when one is right.
    assert login(api_client).status_code == 429


def test_a_throttled_username_does_not_stop_another_user(api_client, db):
    make_user(username="staff", password="staff-password", is_staff=True)
    make_user(username="other", password="other-password", is_staff=True)
    for attempt in range(5):
        login(api_client, password=f"guess-{attempt}")

    assert login(api_client, username="other", password="other-password").status_code == 200


def test_successful_logins_are_not_counted(api_client, db):
    make_user(username="staff", password="staff-password", is_staff=True)

    responses = [login(api_client) for _ in range(8)]

    assert [response.status_code for response in responses] == [200] * 8


def test_one_client_guessing_many_usernames_is_throttled(api_client, db):
    make_user(username="staff", password="staff-password", is_staff=True)
    for attempt in range(20):
        assert login(api_client, username=f"user-{attempt}", password="guess").status_code == 400

    assert login(api_client).status_code == 429
    other_client = type(api_client)(REMOTE_ADDR="192.0.2.7")
    assert login(other_client).status_code == 200


def test_failed_logins_do_not_throttle_other_endpoints(api_client, make_product):
    make_user(username="staff", password="staff-password", is_staff=True)
    product = make_product()
    for attempt in range(21):
        login(api_client, username=f"user-{attempt}", password="guess")

    assert api_client.get(f"/api/products/{product.id}/").status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=basic_auth("staff", "staff-password"))
    assert restock(api_client, product).status_code == 200


def test_the_throttles_count_in_a_cache_every_process_shares(settings):
    # gunicorn runs several worker processes: a per-process cache would count per worker.
    backend = settings.CACHES["default"]["BACKEND"]

    assert backend == "django.core.cache.backends.db.DatabaseCache"


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
    assert not AuthToken.objects.exists()


def test_asking_for_a_token_without_a_password_names_the_field(api_client, db):
    response = api_client.post(TOKEN, {"username": "staff"})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["password"]


def test_a_staff_endpoint_without_credentials_is_401_with_a_basic_challenge(
    api_client, make_product
):
    response = restock(api_client, make_product())

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
        }
    }


def test_a_wrong_password_is_401(api_client, make_product):
    make_user(username="staff", password="staff-password", is_staff=True)
    api_client.credentials(HTTP_AUTHORIZATION=basic_auth("staff", "guess"))

    response = restock(api_client, make_product())

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_an_unknown_token_is_401(api_client, make_product):
    api_client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    response = restock(api_client, make_product())

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_revoked_token_stops_working(api_client, make_product):
    user = make_user(username="staff", password="staff-password", is_staff=True)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(user)}")
    product = make_product()
    assert restock(api_client, product).status_code == 200

    AuthToken.objects.filter(user=user).delete()

    assert restock(api_client, product).status_code == 401


def test_a_user_who_is_not_staff_is_403_whatever_the_scheme(api_client, make_product):
    customer = make_user(username="customer", password="customer-password")
    product = make_product()

    api_client.credentials(HTTP_AUTHORIZATION=basic_auth("customer", "customer-password"))
    by_password = restock(api_client, product)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(customer)}")
    by_token = restock(api_client, product)

    for response in (by_password, by_token):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


def test_a_client_cannot_escape_its_count_by_naming_itself_in_x_forwarded_for(db):
    make_user(username="staff", password="staff-password", is_staff=True)
    guesser = ShopClient(REMOTE_ADDR="198.51.100.1")
    for attempt in range(20):
        forged = {"HTTP_X_FORWARDED_FOR": f"203.0.113.{attempt}"}
        response = guesser.post(
            TOKEN, {"username": f"user-{attempt}", "password": "guess"}, **forged
        )
        assert response.status_code == 400

    assert login(guesser).status_code == 429
