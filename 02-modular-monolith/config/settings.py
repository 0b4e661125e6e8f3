"""Settings of stage 02, read once from the environment.

Two run modes, one code path:
- embedded (the default): SQLite and kombu's file-system broker under $SHOP_VAR_DIR;
- real: DATABASE_URL (PostgreSQL) and BROKER_URL (RabbitMQ), as docker-compose and CI use.
"""

import os
from pathlib import Path

import dj_database_url
from kombu.transport import TRANSPORT_ALIASES


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


BASE_DIR = Path(__file__).resolve().parent.parent
STAGE = BASE_DIR.name  # "02-modular-monolith": the folder name, reported by /api/health/
VAR_DIR = Path(os.environ.get("SHOP_VAR_DIR", BASE_DIR.parent / "var" / STAGE)).resolve()

SHOP_ENV = os.environ.get("SHOP_ENV", "development")  # "production" creates no dev staff user
DEBUG = env_bool("SHOP_DEBUG", False)  # off by default: the API must never show a stack trace
SECRET_KEY = os.environ.get("SHOP_SECRET_KEY", "dev-only-insecure-key-change-me")
if SHOP_ENV == "production" and SECRET_KEY.startswith("dev-only"):
    raise RuntimeError("SHOP_SECRET_KEY must be set when SHOP_ENV=production")
ALLOWED_HOSTS = os.environ.get("SHOP_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(
    ","
)

SHOP_STAFF_USER = os.environ.get("SHOP_STAFF_USER", "staff")
SHOP_STAFF_PASSWORD = os.environ.get("SHOP_STAFF_PASSWORD", "staff")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
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
    "edge.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
]

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

# --- Broker and events ----------------------------------------------------------------------
# The outbox relay publishes domain events to a topic exchange; consumers (notifications) read
# them from their own queues. No Celery at this stage: see messaging/ and the README.
BROKER_URL = os.environ.get("BROKER_URL", "filesystem://")
# amqp: wait for RabbitMQ to confirm each publish, so the relay marks an event published only
# once the broker has taken responsibility for it.
BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"confirm_publish": True}
# filesystem:// means our subclass of kombu's transport, which writes each message atomically.
TRANSPORT_ALIASES["filesystem"] = "messaging.file_transport:Transport"
if BROKER_URL.startswith("filesystem://"):
    BROKER_DIR = VAR_DIR / "broker"
    BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Exchange bindings live here, in files: how a queue bound by the consumer process is
        # seen by the relay process that publishes.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": True,
        # The transport polls its folder; a tenth of a second keeps an email within a blink.
        "polling_interval": 0.1,
    }
    # kombu expects the folders to exist; creating them here keeps every process
    # (web, relay, consumer, tests) working without a separate setup step.
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
# Stages (and test runs) may share one RabbitMQ or one broker folder: every exchange and queue
# name starts with this, so none of them sees another's events.
SHOP_BROKER_NAMESPACE = os.environ.get("SHOP_BROKER_NAMESPACE", f"shop-{STAGE}")
# Who listens to what: each consumer's queue and the event types bound to it. The relay
# declares all of it before it publishes, so an event published before its consumer ever
# started waits in that consumer's queue; an exchange with no queue bound drops messages.
SHOP_EVENT_SUBSCRIPTIONS: dict[str, list[str]] = {
    "notifications": ["order.confirmed", "order.cancelled"],
}

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
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "edge.schema.ShopAutoSchema",
    "EXCEPTION_HANDLER": "edge.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
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
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "edge.middleware.RequestIdFilter"}},
    "formatters": {
        "kv": {
            "format": "time=%(asctime)s level=%(levelname)s logger=%(name)s "
            "request_id=%(request_id)s %(message)s"
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "kv", "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("SHOP_LOG_LEVEL", "INFO")},
}
