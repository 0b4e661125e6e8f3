"""The gateway's settings: the chassis's, plus what the public HTTP API needs on top.

The chassis gives the database (only users and tokens live in it), SHOP_GRPC_TARGETS (where
the services are), SHOP_GRPC_TIMEOUT and SHOP_GRPC_DEADLINE_MARGIN (chassis.deadlines), the
request-id logging.
Below: Django REST framework, the OpenAPI schema and its offline Swagger UI, served by
WhiteNoise, as at stage 03.
"""

import os

from chassis.settings import service_settings

chassis_settings = service_settings(
    "gateway",
    apps=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.staticfiles",  # Swagger UI's files, from drf_spectacular_sidecar
        "rest_framework",
        "drf_spectacular",
        "drf_spectacular_sidecar",
        "gateway",
    ],
    grpc_servicers=None,
)
globals().update(chassis_settings)

# The staff user the release creates when it is missing (ensure_staff): in production only
# with a password given here, never the well-known development one.
SHOP_STAFF_USER = os.environ.get("SHOP_STAFF_USER", "staff")
SHOP_STAFF_PASSWORD = os.environ.get("SHOP_STAFF_PASSWORD") or (
    "" if chassis_settings["PRODUCTION"] else "staff"
)
# `python -m gateway provision` runs these after migrating: the cache's table (the login
# throttles count there), the staff user.
SHOP_PROVISION_COMMANDS = ["createcachetable", "ensure_staff"]

# Time budgets of a public request (seconds), from arrival to answer, shared by every gRPC
# call made for it (gateway.budgets.DeadlineMiddleware): the API answers 503 rather than wait
# longer. A checkout or a cancellation runs a saga (catalog, reserve, charge, commit; or
# refund, release) and may first wait for a twin request's saga: it gets more.
SHOP_REQUEST_BUDGET = float(os.environ.get("SHOP_REQUEST_BUDGET") or 3.0)
SHOP_CHECKOUT_BUDGET = float(os.environ.get("SHOP_CHECKOUT_BUDGET") or 8.0)

MIDDLEWARE = [
    "gateway.middleware.RequestIdMiddleware",
    "gateway.budgets.DeadlineMiddleware",
    "chassis.metrics.MetricsMiddleware",  # /metrics: requests by route, status, latency
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
]

# The largest request body read (API.md): the API's bodies are a few hundred bytes; a larger
# one is refused with 413 before it is read into memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

ROOT_URLCONF = "gateway.urls"
ASGI_APPLICATION = "gateway.asgi.application"
APPEND_SLASH = False  # an API answers 404 for a wrong path; a redirect would drop a POST body

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# --- REST framework and OpenAPI -------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Basic first: its WWW-Authenticate header makes a missing login a 401, not a 403.
        "rest_framework.authentication.BasicAuthentication",
        "gateway.auth.ExpiringTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["gateway.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "gateway.schema.ShopAutoSchema",
    "EXCEPTION_HANDLER": "gateway.http_errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Clients connect to gunicorn itself: a client is the connection's address. Trusting
    # X-Forwarded-For here would let a guesser name itself anew on every attempt.
    "NUM_PROXIES": 0,
    # Failed logins (gateway.auth): per username, and per client address.
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

# --- Cache: where the login throttles count failures ------------------------------------------
# In the database, because it is the one thing every process shares in both modes: gunicorn's
# workers are separate processes (a per-process LocMemCache would give each its own count, so a
# client would get workers x the limit), and so are the containers of docker-compose (a
# file-based cache would be one per container). `createcachetable` (the release step) makes
# the table; the test runner makes it in the test database.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "gateway_cache",
        # Django's default (300 entries, then a third culled) would let a guesser trying many
        # usernames push the counts out of the cache: one entry per username and per client.
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
}

# --- Static files (only Swagger UI's), served by WhiteNoise under gunicorn ------------------
STATIC_URL = "static/"
WHITENOISE_USE_FINDERS = True  # serve straight from the installed apps: no collectstatic step
