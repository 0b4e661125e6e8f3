"""Production mode (SHOP_ENV=production): the settings refuse to start with what the
repository publishes, and start with what an operator provides. Each case imports the
settings in a fresh interpreter, as gunicorn or manage.py would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

STAGE_DIR = Path(__file__).resolve().parent.parent
A_SECRET = "k" * 20 + "q9Zs0-n1Vb3xLm4Tr7Ye"  # 40 characters nobody publishes

SHOW_SETTINGS = (
    "import json; from django.conf import settings; "
    "print(json.dumps({'debug': settings.DEBUG, 'hosts': settings.ALLOWED_HOSTS, "
    "'staff_password': settings.SHOP_STAFF_PASSWORD}))"
)


def load_settings(**environment: str) -> subprocess.CompletedProcess:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SHOP_SECRET", "SHOP_ALLOWED", "SHOP_DEBUG", "SHOP_STAFF"))
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings", **environment)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {SHOW_SETTINGS}"],
        cwd=STAGE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("environment", "complaint"),
    [
        ({"SHOP_ALLOWED_HOSTS": "shop.example.com"}, "needs SHOP_SECRET_KEY"),
        (
            {"SHOP_SECRET_KEY": "dev-only-insecure-key-change-me", "SHOP_ALLOWED_HOSTS": "x.io"},
            "not the published development key",
        ),
        ({"SHOP_SECRET_KEY": "short", "SHOP_ALLOWED_HOSTS": "x.io"}, "32 characters or more"),
        ({"SHOP_SECRET_KEY": A_SECRET}, "needs SHOP_ALLOWED_HOSTS"),
        (
            {"SHOP_SECRET_KEY": A_SECRET, "SHOP_ALLOWED_HOSTS": "x.io", "SHOP_DEBUG": "1"},
            "SHOP_DEBUG must be off",
        ),
    ],
)
def test_production_refuses_to_start_with_published_or_missing_settings(environment, complaint):
    result = load_settings(SHOP_ENV="production", **environment)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert complaint in result.stderr


def test_production_starts_with_a_secret_and_hosts_and_no_staff_password():
    result = load_settings(
        SHOP_ENV="production", SHOP_SECRET_KEY=A_SECRET, SHOP_ALLOWED_HOSTS="shop.example.com"
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "debug": False,
        "hosts": ["shop.example.com"],
        "staff_password": "",
    }


def test_an_unknown_shop_env_is_refused():
    result = load_settings(SHOP_ENV="prod")

    assert result.returncode != 0
    assert "SHOP_ENV must be development or production" in result.stderr


def test_development_runs_on_the_defaults():
    result = load_settings(SHOP_ENV="development")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "debug": False,
        "hosts": ["127.0.0.1", "localhost", "[::1]", "testserver"],
        "staff_password": "staff",
    }
