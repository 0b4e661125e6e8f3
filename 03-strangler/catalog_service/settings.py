"""Settings of the catalog service, read once from the environment.

A deployable of its own: its own settings, database and URLs, none of the monolith's apps.
What both deployables read the same way (secret key, hosts, SQLite options, logging) comes
from kernel.settings. Two run modes, as for the monolith:

- embedded (no DATABASE_URL): SQLite at $SHOP_VAR_DIR/catalog.sqlite3;
- real (DATABASE_URL, the monolith's PostgreSQL): a database of its own on the same server,
  named after the monolith's with `_catalog` added (shop_03 -> shop_03_catalog).
  CATALOG_DATABASE_URL overrides both.

A second alias, "monolith", points at the monolith's database: only `copy_catalog` reads it
(routers.py keeps every model and migration on "default").
"""

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from kernel.settings import (
    allowed_hosts,
    broker_settings,
    debug,
    logging_settings,
    secret_key,
    shop_env,
    sqlite_options,
)

BASE_DIR = Path(__file__).resolve().parent.parent  # the stage folder, as for the monolith
STAGE = BASE_DIR.name
STAGE_NUMBER = STAGE.split("-")[0]
VAR_DIR = Path(os.environ.get("SHOP_VAR_DIR", BASE_DIR.parent / "var" / STAGE)).resolve()

# development (the default) or production, which refuses published or missing settings.
SHOP_ENV = shop_env()
SECRET_KEY = secret_key(SHOP_ENV)  # Django wants one; this service signs nothing with it
ALLOWED_HOSTS = allowed_hosts(SHOP_ENV)
DEBUG = debug(SHOP_ENV)

# Where `serve_grpc` listens unless told otherwise: the Procfile's ports, SHOP_PORT + 21.
CATALOG_GRPC_ADDRESS = (
    f"{os.environ.get('SHOP_HOST', '127.0.0.1')}:{int(os.environ.get('SHOP_PORT', '8000')) + 21}"
)

INSTALLED_APPS = ["rest_framework", "catalog_service"]

MIDDLEWARE = [
    "kernel.middleware.RequestIdMiddleware",
    "kernel.metrics.MetricsMiddleware",  # /metrics: requests by route, status, latency
    # The monolith's headers, so that the proxy's two sides answer alike.
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

# The largest request body read (API.md), as the monolith's: this service reads none today.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

ROOT_URLCONF = "catalog_service.urls"
WSGI_APPLICATION = "catalog_service.wsgi.application"
APPEND_SLASH = False  # an API answers 404 for a wrong path, as the monolith does


# --- Databases ------------------------------------------------------------------------------
def _beside(monolith_url: str) -> str:
    """The URL of a database next to the monolith's, named after it: on the same PostgreSQL
    server shop_03 -> shop_03_catalog (the query string, e.g. ?pool=true, stays), and for a
    SQLite file db.sqlite3 -> db_catalog.sqlite3 in the same folder."""
    parts = urlsplit(monolith_url)
    if parts.scheme.startswith("sqlite"):
        folder, _, file = monolith_url.rpartition("/")
        stem, dot, suffix = file.partition(".")
        return f"{folder}/{stem}_catalog{dot}{suffix}"
    return parts._replace(path=f"{parts.path}_catalog").geturl()


def _database(url: str, *, sqlite_test_file: str, postgres_test_suffix: str) -> dict[str, Any]:
    """One DATABASES entry. Test databases: a SQLite file (the gRPC tests' server threads
    share it), or on PostgreSQL test_<database><suffix>, the suffix ending in the stage number
    as the monolith's do, so that suites of several stages may run at once on one server."""
    database = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database["OPTIONS"] = sqlite_options()
        database["TEST"] = {"NAME": str(VAR_DIR / sqlite_test_file)}
    else:
        if database.get("OPTIONS", {}).get("pool"):
            database["CONN_MAX_AGE"] = 0  # ?pool=true: the pool keeps connections, not Django
        database["TEST"] = {"NAME": f"test_{database['NAME']}{postgres_test_suffix}"}
    return database


MONOLITH_DATABASE_URL = os.environ.get("DATABASE_URL", "")
if os.environ.get("CATALOG_DATABASE_URL"):
    CATALOG_DATABASE_URL = os.environ["CATALOG_DATABASE_URL"]
elif MONOLITH_DATABASE_URL:
    CATALOG_DATABASE_URL = _beside(MONOLITH_DATABASE_URL)
else:
    CATALOG_DATABASE_URL = f"sqlite:///{VAR_DIR / 'catalog.sqlite3'}"

DATABASES = {
    "default": _database(
        CATALOG_DATABASE_URL,
        sqlite_test_file="test-catalog.sqlite3",
        postgres_test_suffix=f"_{STAGE_NUMBER}",
    ),
    # In the copy tests, a database standing in for the monolith's: never the monolith's own
    # test database, which the monolith's suite may be using at the same moment.
    "monolith": _database(
        MONOLITH_DATABASE_URL or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        sqlite_test_file="test-catalog-source.sqlite3",
        postgres_test_suffix=f"_catalog_source_{STAGE_NUMBER}",
    ),
}
# Read by one command now and then: no connection kept open; on SQLite neither the WAL
# pragma nor IMMEDIATE transactions, which would take the monolith's write lock.
DATABASES["monolith"]["CONN_MAX_AGE"] = 0
if DATABASES["monolith"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["monolith"]["OPTIONS"] = {"timeout": 20}
DATABASE_ROUTERS = ["catalog_service.routers.CatalogRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- REST framework: anonymous JSON reads ---------------------------------------------------
# No users here: the monolith authenticates staff and sends their writes over gRPC.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["kernel.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "kernel.http_errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

# --- Broker: the monolith's catalog events, for catalog-sync ----------------------------------
# While staff writes still land in the monolith's tables (SHOP_CATALOG_BACKEND=local), the
# monolith records a `catalog.product_changed` event per write and its relay publishes it;
# `catalog-sync` (sync_catalog, catalog_service/sync.py) applies it here. The same broker, the
# same namespace and the same folder as the monolith's, or the events go somewhere else.
BROKER_URL, BROKER_TRANSPORT_OPTIONS = broker_settings(VAR_DIR)
SHOP_BROKER_NAMESPACE = os.environ.get("SHOP_BROKER_NAMESPACE", f"shop-{STAGE}")
# This service's queue and what it is bound to; the monolith's settings list it too, so that
# its relay declares the queue before it publishes (an event nobody is bound to is dropped).
SHOP_EVENT_SUBSCRIPTIONS: dict[str, list[str]] = {"catalog-sync": ["catalog.product_changed"]}
# How long catalog-sync remembers the ids of the events it applied (as the monolith's
# notifications consumer: longer than the monolith's outbox keeps a row to replay).
SHOP_PROCESSED_EVENT_RETENTION_DAYS = int(
    os.environ.get("SHOP_PROCESSED_EVENT_RETENTION_DAYS") or 30
)

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
USE_I18N = False

LOGGING = logging_settings(os.environ.get("SHOP_LOG_LEVEL", "INFO"))
