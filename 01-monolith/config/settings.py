"""Settings of stage 01, read once from the environment.

Two run modes, one code path:
- embedded (the default): SQLite and kombu's file-system broker under $SHOP_VAR_DIR;
- real: DATABASE_URL (PostgreSQL) and BROKER_URL (RabbitMQ), as docker-compose and CI use.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu.transport import TRANSPORT_ALIASES


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


BASE_DIR = Path(__file__).resolve().parent.parent
STAGE = BASE_DIR.name  # "01-monolith": the folder name, reported by /api/health/
VAR_DIR = Path(os.environ.get("SHOP_VAR_DIR", BASE_DIR.parent / "var" / STAGE)).resolve()

# --- development (the default) or production ------------------------------------------------
# Production refuses to start with what this file publishes: the development secret key, a
# guessable key, or the development host names; and DEBUG stays off.
SHOP_ENV = os.environ.get("SHOP_ENV", "development")
if SHOP_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"SHOP_ENV must be development or production, not {SHOP_ENV!r}")
PRODUCTION = SHOP_ENV == "production"
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-change-me"  # published: development only
SECRET_KEY = os.environ.get("SHOP_SECRET_KEY") or DEVELOPMENT_SECRET_KEY
ALLOWED_HOSTS = [host for host in os.environ.get("SHOP_ALLOWED_HOSTS", "").split(",") if host]
DEBUG = env_bool("SHOP_DEBUG", False)  # off by default: the API must never show a stack trace
if PRODUCTION:
    if SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "SHOP_ENV=production needs SHOP_SECRET_KEY: a secret of 32 characters or more, not "
            "the published development key (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))')"
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "SHOP_ENV=production needs SHOP_ALLOWED_HOSTS: the host names clients use, "
            "comma-separated (e.g. shop.example.com)"
        )
    if DEBUG:
        raise ImproperlyConfigured("SHOP_DEBUG must be off when SHOP_ENV=production")
else:
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]

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
    "shop",
]

MIDDLEWARE = [
    "shop.middleware.RequestIdMiddleware",
    "config.metrics.MetricsMiddleware",  # /metrics: requests by route, status, latency
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
]

# The largest request body read (API.md): the API's bodies are a few hundred bytes; a larger
# one is refused with 413 before it is read into memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
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
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock when a
        # transaction starts, so two checkouts queue up instead of failing with "database is
        # locked" when both try to upgrade a read lock. SQLite has no SELECT ... FOR UPDATE.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
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

# --- Broker and Celery ----------------------------------------------------------------------
BROKER_URL = os.environ.get("BROKER_URL", "filesystem://")
CELERY_BROKER_URL = BROKER_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {}
# filesystem:// means our subclass of kombu's transport, which writes each message atomically.
TRANSPORT_ALIASES["filesystem"] = "shop.file_transport:Transport"
if BROKER_URL.startswith("filesystem://"):
    BROKER_DIR = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": True,
    }
    # kombu expects the folders to exist; creating them here keeps every process
    # (web, worker, tests) working without a separate setup step.
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
# Remote control (`celery inspect`, the pidbox) is off in both modes: the file-system transport
# has no fanout for it, and on RabbitMQ its queue is named after the worker's host only
# (celery@<host>.celery.pidbox) and held exclusively, so a second stage-01 worker on the same
# broker (a `make run` beside `make test`) would crash at start, again and again.
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
# Stages, test runs and a `make run` may share one RabbitMQ (or one broker folder): each gets a
# queue of its own, or one would run the tasks the other queued.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("SHOP_BROKER_NAMESPACE", f"shop-{STAGE}")
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message for another one
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True  # tasks send emails; nobody waits for a result
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

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
        "shop.api.auth.ExpiringTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["shop.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "shop.api.schema.ShopAutoSchema",
    "EXCEPTION_HANDLER": "shop.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Clients connect to gunicorn itself: a client is the connection's address. Trusting
    # X-Forwarded-For here would let a guesser name itself anew on every attempt.
    "NUM_PROXIES": 0,
    # Failed logins (shop.api.auth): per username, and per client address.
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

# --- Logging: key=value lines carrying the request id and the trace id -----------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "shop.middleware.RequestIdFilter"},
        "trace_id": {"()": "shop.telemetry.TraceIdFilter"},
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
    "root": {"handlers": ["console"], "level": os.environ.get("SHOP_LOG_LEVEL", "INFO")},
}
