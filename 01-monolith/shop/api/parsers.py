"""The API's one body parser: DRF's JSON parser, with a clear error for a body nested too deep.

A module of its own: DRF imports the parser its settings name while it imports its views,
so this module must not import them (the error handler's module does).
"""

from typing import Any

from rest_framework import exceptions as drf
from rest_framework import parsers

# No body of the API nests deeper than 2 levels; a deeper one is refused at once, before any
# code walks it recursively (the idempotency fingerprint's json.dumps would).
MAX_BODY_NESTING = 32


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing bodies nested deeper than MAX_BODY_NESTING (400).

    Python's decoder recurses once per level and gives up with RecursionError at about a
    thousand: a body we will not read, not a bug of ours (a 500). A body larger than
    DATA_UPLOAD_MAX_MEMORY_SIZE never gets here: Django refuses to read it
    (RequestDataTooBig, which the exception handler answers with a 413)."""

    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = drf.ParseError(f"it is nested deeper than {MAX_BODY_NESTING} levels.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if nesting_exceeds(data, MAX_BODY_NESTING):
            raise too_deep
        return data


def nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether lists and objects nest deeper than `limit` in `value` (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            pending.extend((child, depth + 1) for child in children)
    return False
