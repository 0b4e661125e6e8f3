"""WSGI entry point: gunicorn serves `gateway.wsgi:application` (the Procfile's `gateway`).

gunicorn imports this in each worker after forking it, so each worker starts its own tracing
(the span exporter's thread would not survive a fork).
"""

import os

from chassis import telemetry
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
telemetry.setup("gateway")  # before Django loads its middleware: tracing adds its own

application = get_wsgi_application()
