"""WSGI entry point of the catalog service's HTTP API: `gunicorn catalog_service.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

# Set, not setdefault: see __main__.py.
os.environ["DJANGO_SETTINGS_MODULE"] = "catalog_service.settings"

application = get_wsgi_application()
