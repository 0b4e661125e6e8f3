"""What both deployables of this stage read from the environment, read the same way.

The monolith's settings (config/settings.py) and the catalog service's
(catalog_service/settings.py) import this while Django is still being set up, so it imports
nothing of Django's but an exception: plain functions returning plain values. (The broker's
settings register the stage's file-system transport with kombu, by name.)

SHOP_ENV is development (the default) or production. Production refuses to start with what
this repository publishes: the development secret key, a guessable key, or the development
host names; and DEBUG stays off.
"""

import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from kombu.transport import TRANSPORT_ALIASES

DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-change-me"  # published: development only
DEVELOPMENT_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def shop_env() -> str:
    value = os.environ.get("SHOP_ENV", "development")
    if value not in {"development", "production"}:
        raise ImproperlyConfigured(f"SHOP_ENV must be development or production, not {value!r}")
    return value


def secret_key(shop_env: str) -> str:
    """SHOP_SECRET_KEY; the published development key, or none, only in development."""
    key = os.environ.get("SHOP_SECRET_KEY") or DEVELOPMENT_SECRET_KEY
    if shop_env == "production" and (key == DEVELOPMENT_SECRET_KEY or len(key) < 32):
        raise ImproperlyConfigured(
            "SHOP_ENV=production needs SHOP_SECRET_KEY: a secret of 32 characters or more, not "
            "the published development key (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))')"
        )
    return key


def allowed_hosts(shop_env: str) -> list[str]:
    """SHOP_ALLOWED_HOSTS, comma-separated; in development, the local names by default."""
    hosts = [host for host in os.environ.get("SHOP_ALLOWED_HOSTS", "").split(",") if host]
    if shop_env == "production" and not hosts:
        raise ImproperlyConfigured(
            "SHOP_ENV=production needs SHOP_ALLOWED_HOSTS: the host names clients use, "
            "comma-separated (e.g. shop.example.com)"
        )
    return hosts or DEVELOPMENT_HOSTS


def debug(shop_env: str) -> bool:
    """SHOP_DEBUG, off by default: the API must never show a stack trace."""
    on = env_bool("SHOP_DEBUG", False)
    if shop_env == "production" and on:
        raise ImproperlyConfigured("SHOP_DEBUG must be off when SHOP_ENV=production")
    return on


def sqlite_options() -> dict[str, Any]:
    """A SQLite database's OPTIONS: how one file serves several processes and threads."""
    return {
        # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock when a
        # transaction starts, so two checkouts queue up instead of failing with "database is
        # locked" when both try to upgrade a read lock. SQLite has no SELECT ... FOR UPDATE.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }


def broker_settings(var_dir: Path) -> tuple[str, dict[str, Any]]:
    """BROKER_URL and BROKER_TRANSPORT_OPTIONS: RabbitMQ (`amqp://...`) or, by default, the
    file-system broker under `var_dir`/broker, which the monolith's relay and consumer and the
    catalog service's consumer must all find in the same folder."""
    url = os.environ.get("BROKER_URL", "filesystem://")
    # amqp: wait for RabbitMQ to confirm each publish, so the relay marks an event published
    # only once the broker has taken responsibility for it.
    options: dict[str, Any] = {"confirm_publish": True}
    # filesystem:// means our subclass of kombu's transport, which writes each message atomically.
    TRANSPORT_ALIASES["filesystem"] = "kernel.file_transport:Transport"
    if url.startswith("filesystem://"):
        folder = var_dir / "broker"
        options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            # Exchange bindings live here, in files: how a queue bound by the consumer process
            # is seen by the relay process that publishes.
            "control_folder": str(folder / "control"),
            "store_processed": True,
            # The transport polls its folder; a tenth of a second keeps an email within a blink.
            "polling_interval": 0.1,
        }
        # kombu expects the folders to exist; creating them here keeps every process
        # (web, relay, consumers, tests) working without a separate setup step.
        for name in ("queue", "processed", "control"):
            (folder / name).mkdir(parents=True, exist_ok=True)
    return url, options


def logging_settings(level: str) -> dict[str, Any]:
    """Django's LOGGING: key=value lines on the console, each carrying the request id and the
    trace id (kernel.request_ids.RequestIdFilter, kernel.telemetry.TraceIdFilter, named as
    strings: logging imports them once Django is up)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "kernel.request_ids.RequestIdFilter"},
            "trace_id": {"()": "kernel.telemetry.TraceIdFilter"},
        },
        "formatters": {
            "kv": {
                "format": "time=%(asctime)s level=%(levelname)s logger=%(name)s "
                "request_id=%(request_id)s trace_id=%(trace_id)s %(message)s"
            }
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "kv",
                "filters": ["request_id", "trace_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
    }
