"""OpenTelemetry's Django middleware, for a gateway served over ASGI.

The instrumentation's middleware (opentelemetry-instrumentation-django) is synchronous, and
so is its `process_view`, which only copies the matched route onto the request's span
(`http.route`). Under ASGI, Django runs every synchronous `process_view` in a thread and
waits for it: one more trip from the event loop to a thread and back on every request, and
the costliest part of tracing a request in the gateway after the span's own bookkeeping.
Measured with callgrind on `GET /api/health/` in process: 4.25 million instructions per
request untraced, 6.15 million traced with the stock middleware, 5.80 million with this one
(workshop/comparison.md, "the cost of seeing").

Here `process_view` is a coroutine that does the same work where it is called: the span, its
name and attributes and the response hook are the instrumentation's own. Under WSGI (the
test client) Django runs the coroutine for the synchronous handler, as it must.

gateway/tests/test_asgi.py counts the hops; its test of the stock middleware fails once the
instrumentation itself becomes asynchronous, and then this module can go.
"""

from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.django.middleware.otel_middleware import _DjangoMiddleware


class TracingMiddleware(_DjangoMiddleware):
    async def process_view(self, request, view_func, *args, **kwargs):
        return super().process_view(request, view_func, *args, **kwargs)


class AsgiDjangoInstrumentor(DjangoInstrumentor):
    """DjangoInstrumentor, putting TracingMiddleware first in MIDDLEWARE instead of its own."""

    _opentelemetry_middleware = f"{TracingMiddleware.__module__}.{TracingMiddleware.__qualname__}"
