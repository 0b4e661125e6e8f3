"""The gateway's release step: its database, its tables, the cache's table, the staff user."""

import io

from django.contrib.auth import get_user_model
from django.core.management import call_command


def test_ensure_staff_creates_a_staff_user_who_can_log_in(db, settings):
    settings.SHOP_STAFF_USER = "boss"
    settings.SHOP_STAFF_PASSWORD = "s3cret"

    call_command("ensure_staff", stdout=io.StringIO())
    call_command("ensure_staff", stdout=io.StringIO())

    user = get_user_model().objects.get()
    assert (user.username, user.is_staff) == ("boss", True)
    assert user.check_password("s3cret")


def test_ensure_staff_never_changes_an_existing_users_password(db, settings):
    get_user_model().objects.create_user(username="boss", password="changed-since", is_staff=True)
    settings.SHOP_STAFF_USER = "boss"
    settings.SHOP_STAFF_PASSWORD = "s3cret"
    output = io.StringIO()

    call_command("ensure_staff", stdout=output)

    assert get_user_model().objects.get().check_password("changed-since")
    assert "exists, left as it is" in output.getvalue()


def test_ensure_staff_without_a_password_creates_no_user(db, settings):
    settings.SHOP_STAFF_PASSWORD = ""  # production's default: no well-known password
    output = io.StringIO()

    call_command("ensure_staff", stdout=output)

    assert not get_user_model().objects.exists()
    assert "no SHOP_STAFF_PASSWORD" in output.getvalue()


def test_provision_migrates_and_creates_the_staff_user(db, settings):
    settings.SHOP_STAFF_USER = "boss"
    output = io.StringIO()

    call_command("provision", stdout=output)

    assert "provision: gateway: migrated" in output.getvalue()
    assert get_user_model().objects.get().username == "boss"
