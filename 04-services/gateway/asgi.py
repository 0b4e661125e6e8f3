"""ASGI entry point: gunicorn's asgi worker serves `gateway.asgi:application` (the
Procfile's `gateway`). An asyncio server reads each request, body included, before a thread
runs the view: a client that trickles its bytes costs a socket, not one of the few workers
(chapter 4, "Slow clients").

gunicorn imports this in each worker after forking it, so each worker starts its own tracing
(the span exporter's thread would not survive a fork)."""

import os

from chassis import telemetry
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
telemetry.setup("gateway")  # before Django loads its middleware: tracing adds its own

application = get_asgi_application()
