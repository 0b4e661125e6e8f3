"""Settings of stage 03, read once from the environment.

Two run modes, one code path:
- embedded (the default): SQLite and kombu's file-system broker under $SHOP_VAR_DIR;
- real: DATABASE_URL (PostgreSQL) and BROKER_URL (RabbitMQ), as docker-compose and CI use.
"""

import os
from pathlib import Path

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

BASE_DIR = Path(__file__).resolve().parent.parent
STAGE = BASE_DIR.name  # "03-strangler": the folder name, reported by /api/health/
VAR_DIR = Path(os.environ.get("SHOP_VAR_DIR", BASE_DIR.parent / "var" / STAGE)).resolve()

# development (the default) or production, which refuses published or missing settings.
SHOP_ENV = shop_env()
PRODUCTION = SHOP_ENV == "production"
SECRET_KEY = secret_key(SHOP_ENV)
ALLOWED_HOSTS = allowed_hosts(SHOP_ENV)
DEBUG = debug(SHOP_ENV)

# The staff user the release creates when it is missing (ensure_staff): in production only
# with a password given here, never the well-known development one.
SHOP_STAFF_USER = os.environ.get("SHOP_STAFF_USER", "staff")
SHOP_STAFF_PASSWORD = os.environ.get("SHOP_STAFF_PASSWORD") or ("" if PRODUCTION else "staff")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # One app per bounded context; each is reached only through its `api` (see .importlinter).
    "catalog",
    "inventory",
    "ordering",
    "payments",
    "notifications",
    # The shared plumbing (the outbox and the broker) and the HTTP edge.
    "messaging",
    "edge",
]

MIDDLEWARE = [
    "kernel.middleware.RequestIdMiddleware",
    "kernel.metrics.MetricsMiddleware",  # /metrics: requests by route, status, latency
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
]

# The largest request body read (API.md): the API's bodies are a few hundred bytes; a larger
# one is refused with 413 before it is read into memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
APPEND_SLASH = False  # an API answers 404 for a wrong path; a redirect would drop a POST body

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = sqlite_options()
    # A file, not :memory:, so that the concurrency tests' threads share one test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
else:
    # test_<database>_<stage number>: two stages' suites may run at once on one PostgreSQL
    # (pytest-django drops and recreates its test database at the start of a run).
    DATABASES["default"]["TEST"] = {
        "NAME": f"test_{DATABASES['default']['NAME']}_{STAGE.split('-')[0]}"
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: where the login throttles count failures ------------------------------------------
# In the database, because it is the one thing every process shares in both modes: gunicorn's
# workers are separate processes (a per-process LocMemCache would give each its own count, so a
# client would get workers x the limit), and so are the containers of docker-compose (a
# file-based cache would be one per container). `createcachetable` (the release step) makes
# the table; the test runner makes it in the test database.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "shop_cache",
        # Django's default (300 entries, then a third culled) would let a guesser trying many
        # usernames push the counts out of the cache: one entry per username and per client.
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
}

# --- Broker and events ----------------------------------------------------------------------
# The outbox relay publishes domain events to a topic exchange; consumers (notifications) read
# them from their own queues. No Celery at this stage: see messaging/ and the README.
BROKER_URL, BROKER_TRANSPORT_OPTIONS = broker_settings(VAR_DIR)
# How long the outbox keeps published rows (the relay deletes older ones; an event can be
# replayed from its row until then), and notifications the ids of the events it handled: longer,
# so that a replayed event is still recognised as one.
SHOP_OUTBOX_RETENTION_DAYS = int(os.environ.get("SHOP_OUTBOX_RETENTION_DAYS") or 7)
SHOP_PROCESSED_EVENT_RETENTION_DAYS = int(
    os.environ.get("SHOP_PROCESSED_EVENT_RETENTION_DAYS") or 30
)
if SHOP_PROCESSED_EVENT_RETENTION_DAYS <= SHOP_OUTBOX_RETENTION_DAYS:
    raise RuntimeError(
        "SHOP_PROCESSED_EVENT_RETENTION_DAYS must be longer than SHOP_OUTBOX_RETENTION_DAYS: "
        "a replayed event would be handled twice"
    )
# Stages (and test runs) may share one RabbitMQ or one broker folder: every exchange and queue
# name starts with this, so none of them sees another's events.
SHOP_BROKER_NAMESPACE = os.environ.get("SHOP_BROKER_NAMESPACE", f"shop-{STAGE}")
# Who listens to what: each consumer's queue and the event types bound to it. The relay
# declares all of it before it publishes, so an event published before its consumer ever
# started waits in that consumer's queue; an exchange with no queue bound drops messages.
SHOP_EVENT_SUBSCRIPTIONS: dict[str, list[str]] = {
    "notifications": ["order.confirmed", "order.cancelled"],
    # The catalog service's copy, fed by the monolith's catalog writes while they still land
    # here (catalog/events.py); its settings bind the same queue.
    "catalog-sync": ["catalog.product_changed"],
}

# --- The catalog: local tables or the extracted catalog service ---------------------------
# Branch by abstraction (catalog/api.py): "local" reads and writes the monolith's own catalog
# tables, as at stage 02; "grpc" calls the catalog service. The committed value is the end of
# the chapter's migration; set SHOP_CATALOG_BACKEND=local to go back one step.
SHOP_CATALOG_BACKEND = os.environ.get("SHOP_CATALOG_BACKEND", "grpc")
if SHOP_CATALOG_BACKEND not in ("local", "grpc"):
    raise RuntimeError(f"SHOP_CATALOG_BACKEND must be local or grpc, not {SHOP_CATALOG_BACKEND!r}")
# The service's gRPC port is SHOP_PORT + 21 (its HTTP port, for the proxy, SHOP_PORT + 20).
SHOP_CATALOG_GRPC_TARGET = os.environ.get(
    "SHOP_CATALOG_GRPC_TARGET", f"127.0.0.1:{int(os.environ.get('SHOP_PORT') or 8000) + 21}"
)
# The deadline of one call, retries included: a slow catalog costs a request this long at most.
SHOP_CATALOG_GRPC_TIMEOUT = float(os.environ.get("SHOP_CATALOG_GRPC_TIMEOUT") or 2.0)

# --- Email: files a learner can open --------------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "SHOP_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend"
)
EMAIL_FILE_PATH = VAR_DIR / "emails"
DEFAULT_FROM_EMAIL = "shop@example.com"

# --- REST framework and OpenAPI -------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Basic first: its WWW-Authenticate header makes a missing login a 401, not a 403.
        "rest_framework.authentication.BasicAuthentication",
        "edge.auth.ExpiringTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["kernel.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "edge.schema.ShopAutoSchema",
    "EXCEPTION_HANDLER": "kernel.http_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # The monolith stands behind the proxy, which appends the client's address to
    # X-Forwarded-For: the throttles take the client from there, or every client would be
    # the proxy.
    "NUM_PROXIES": 1,
    # Failed logins (edge.auth): per username, and per client address.
    "DEFAULT_THROTTLE_RATES": {
        "login_username": os.environ.get("SHOP_LOGIN_FAILURES_PER_USERNAME", "5/min"),
        "login_client": os.environ.get("SHOP_LOGIN_FAILURES_PER_CLIENT", "20/min"),
    },
}
# How long a token from /api/auth/token/ works, in seconds (8 hours: a working day).
SHOP_TOKEN_LIFETIME = int(os.environ.get("SHOP_TOKEN_LIFETIME") or 8 * 3600)
SPECTACULAR_SETTINGS = {
    "TITLE": "Shop API",
    "DESCRIPTION": "The public HTTP API of the workshop shop: the same at every stage.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # What a client sends and what it gets back are two components (read-only fields such as
    # the login's `token` are not asked of the client).
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from this server: a classroom may be offline
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Static files (only Swagger UI's), served by WhiteNoise under gunicorn ------------------
STATIC_URL = "static/"
WHITENOISE_USE_FINDERS = True  # serve straight from the installed apps: no collectstatic step

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
USE_I18N = False

# --- Logging: key=value lines carrying the request id ---------------------------------------
LOGGING = logging_settings(os.environ.get("SHOP_LOG_LEVEL", "INFO"))
