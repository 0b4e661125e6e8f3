"""The gateway's settings: the chassis's, plus what the public HTTP API needs on top.

The chassis gives the database (only users and tokens live in it), SHOP_GRPC_TARGETS (where
the services are) and SHOP_GRPC_TIMEOUT (every call's deadline), the request-id logging.
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
        "rest_framework.authtoken",
        "drf_spectacular",
        "drf_spectacular_sidecar",
        "gateway",
    ],
    grpc_servicers=None,
)
globals().update(chassis_settings)

SHOP_STAFF_USER = os.environ.get("SHOP_STAFF_USER", "staff")
SHOP_STAFF_PASSWORD = os.environ.get("SHOP_STAFF_PASSWORD", "staff")
# `python -m gateway release` runs these after migrating: the development staff user, which
# production does without (API.md: production settings create none).
SHOP_RELEASE_COMMANDS = [] if chassis_settings["SHOP_ENV"] == "production" else ["ensure_staff"]

MIDDLEWARE = [
    "gateway.web.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
]

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
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "gateway.schema.ShopAutoSchema",
    "EXCEPTION_HANDLER": "gateway.web.exception_handler",
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
