"""ASGI entry point: gunicorn's asgi worker serves `config.asgi:application` (the Procfile's
`web`). An asyncio server reads each request, body included, before a thread runs the view:
a client that trickles its bytes costs a socket, not one of the few workers (chapter 1,
"Slow clients")."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_asgi_application()
