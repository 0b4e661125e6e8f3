"""WSGI entry point: gunicorn serves `config.wsgi:application`.

gunicorn imports this in each worker after forking it, so each worker starts its own tracing
(the span exporter's thread would not survive a fork).
"""

import os

from django.core.wsgi import get_wsgi_application
from kernel import telemetry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
telemetry.setup("web")  # before Django loads its middleware: tracing adds its own

application = get_wsgi_application()
