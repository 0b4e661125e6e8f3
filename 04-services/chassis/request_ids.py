"""One request id per request, in every log line of every process it passes through.

The gateway takes the client's X-Request-ID (or makes one) and sends it on as gRPC metadata
`x-request-id` (gateway/middleware.py, `outgoing_metadata`); each server puts it back into
`request_id_var`, and `RequestIdFilter` writes it on each log line. Stage 03's
kernel/request_ids.py, carried forward into the chassis every service shares.
"""

import contextvars
import logging
import re
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
METADATA_KEY = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def valid_request_id(incoming: str) -> str:
    """`incoming` if it is a sensible request id, else a new one."""
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def outgoing_metadata() -> tuple[tuple[str, str], ...]:
    """The metadata a gRPC call carries: the current request id, if there is one."""
    request_id = request_id_var.get()
    return ((METADATA_KEY, request_id),) if request_id != "-" else ()


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every log record (settings.LOGGING names it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True
