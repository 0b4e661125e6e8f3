"""ASGI entry point: gunicorn's asgi worker serves `config.asgi:application` (the Procfile's
`web`). An asyncio server reads each request, body included, before a thread runs the view:
a client that trickles its bytes costs a socket, not one of the few workers (chapter 1,
"Slow clients").

gunicorn imports this in each worker after forking it, so each worker starts its own tracing
(the span exporter's thread would not survive a fork)."""

import os

from django.core.asgi import get_asgi_application
from shop import telemetry

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
telemetry.setup("web")  # before Django loads its middleware: tracing adds its own

application = get_asgi_application()
