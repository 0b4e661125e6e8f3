"""The gateway's release step: its database, its tables, the development staff user."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command


def test_ensure_staff_creates_a_staff_user_who_can_log_in(db, settings):
    settings.SHOP_STAFF_USER = "boss"
    settings.SHOP_STAFF_PASSWORD = "s3cret"

    call_command("ensure_staff", stdout=io.StringIO())
    call_command("ensure_staff", stdout=io.StringIO())

    user = get_user_model().objects.get()
    assert (user.username, user.is_staff) == ("boss", True)
    assert user.check_password("s3cret")


def test_ensure_staff_refuses_to_run_in_production(db, settings):
    settings.SHOP_ENV = "production"

    with pytest.raises(CommandError):
        call_command("ensure_staff", stdout=io.StringIO())

    assert not get_user_model().objects.exists()


def test_release_migrates_and_creates_the_staff_user(db, settings):
    settings.SHOP_STAFF_USER = "boss"
    output = io.StringIO()

    call_command("release", stdout=output)

    assert "release: gateway: migrated" in output.getvalue()
    assert get_user_model().objects.get().username == "boss"
