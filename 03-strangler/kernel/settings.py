"""What both deployables of this stage read from the environment, read the same way.

The monolith's settings (config/settings.py) and the catalog service's
(catalog_service/settings.py) import this while Django is still being set up, so it imports
nothing of Django's: plain functions returning plain values.
"""

import os
from typing import Any


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def secret_key(shop_env: str) -> str:
    """SHOP_SECRET_KEY; the development default is refused in production."""
    key = os.environ.get("SHOP_SECRET_KEY", "dev-only-insecure-key-change-me")
    if shop_env == "production" and key.startswith("dev-only"):
        raise RuntimeError("SHOP_SECRET_KEY must be set when SHOP_ENV=production")
    return key


def allowed_hosts() -> list[str]:
    return os.environ.get("SHOP_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(",")


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


def logging_settings(level: str) -> dict[str, Any]:
    """Django's LOGGING: key=value lines on the console, each carrying the request id and the
    trace id (kernel.http.RequestIdFilter, kernel.telemetry.TraceIdFilter, named as strings:
    logging imports them once Django is up)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "kernel.http.RequestIdFilter"},
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
