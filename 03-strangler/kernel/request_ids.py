"""One request id per request, in every log line of every process it passes through.

The proxy takes the client's X-Request-ID (or makes one) and sends it on; the monolith's
middleware (kernel/middleware.py) and the catalog service's gRPC server (from the call's
metadata) put it into `request_id_var`, and `RequestIdFilter` writes it on each log line.
Plain Python: the proxy, which runs no Django, imports it too.
"""

import contextvars
import logging
import re
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def valid_request_id(incoming: str) -> str:
    """`incoming` if it is a sensible request id, else a new one."""
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record (settings.LOGGING names it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True
