"""WSGI entry point of the catalog service's HTTP API: `gunicorn catalog_service.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application
from kernel import telemetry

# Set, not setdefault: see __main__.py.
os.environ["DJANGO_SETTINGS_MODULE"] = "catalog_service.settings"
telemetry.setup("catalog-web")  # in each gunicorn worker, before Django loads its middleware

application = get_wsgi_application()
