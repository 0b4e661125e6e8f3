"""The OpenAPI schema's view of the API, kept truthful in one place (settings:
DEFAULT_SCHEMA_CLASS): who may call an operation, and the errors every operation can answer.

drf-spectacular reads the rest from the views' serializers and `extend_schema`. What it cannot
know, it learns here: that a read of `IsStaffOrReadOnly` is public, and which statuses of the
error envelope (API.md, "Errors") an operation can give. The errors only some operations give
(402, 409, 422) are declared on those views. `make test` runs schemathesis against the schema
and the running stage, so a schema that lies fails a test.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS

ErrorSerializer = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorDetail",
            {
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()), required=False
                ),
                "details": serializers.DictField(required=False),
            },
        )
    },
)

ERROR_DESCRIPTIONS = {
    400: "validation_error: the body, a query parameter or a header is not valid",
    401: "not_authenticated: a staff operation without (valid) credentials",
    403: "permission_denied: credentials of a user who is not staff",
    404: "not_found: no such resource (or page)",
    413: "body_too_large: a request body over the limit of API.md",
    414: "a request line over 4094 bytes: answered by the HTTP server, in text (API.md)",
    429: "throttled: too many requests of this kind; Retry-After says when to try again",
    503: "service_unavailable: a dependency is down or too slow; Retry-After says when to retry",
}


class ShopAutoSchema(AutoSchema):
    def is_staff_only(self) -> bool:
        # Imported here: the views import this module's ErrorSerializer.
        from .views import IsStaff, IsStaffOrReadOnly

        permissions = self.view.get_permissions()
        if any(type(permission) is IsStaff for permission in permissions):
            return True
        staff_writes = any(type(permission) is IsStaffOrReadOnly for permission in permissions)
        return staff_writes and self.method not in SAFE_METHODS

    def get_auth(self) -> list[dict]:
        """Staff operations name the schemes; public ones none (anonymous is the norm)."""
        return super().get_auth() if self.is_staff_only() else []

    def get_serializer_name(self, serializer, direction) -> str:
        """`ProductCollectionApi.InputSerializer` -> `ProductCollectionInput`: every view's
        nested InputSerializer is its own component, instead of one `Input` for all."""
        return type(serializer).__qualname__.replace("Api.", "").replace(".", "")

    def _map_serializer_field(self, field, direction, bypass_extensions=False) -> dict:
        """A text field that refuses blanks says so: DRF strips the value and refuses an empty
        one, which drf-spectacular does not tell (a blank `username` looked valid)."""
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and not field.allow_blank
            and schema.get("type") == "string"
        ):
            schema.setdefault("minLength", 1)
            if field.trim_whitespace:
                schema.setdefault("pattern", r"\S")  # a character that is not a space
        return schema

    def _get_response_bodies(self, direction="response") -> dict:
        responses = super()._get_response_bodies(direction)
        for status in self.error_statuses():
            body = None if status == 414 else ErrorSerializer  # gunicorn's, not the envelope
            response = self._get_response_for_code(body, str(status))
            response["description"] = ERROR_DESCRIPTIONS[status]
            responses.setdefault(str(status), response)
        return responses

    def error_statuses(self) -> list[int]:
        statuses = [503]  # any operation: the database (or a service) may be down
        has_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer()
        query_or_header = [p for p in self._get_parameters() if p["in"] in ("query", "header")]
        if has_body or query_or_header:
            statuses.append(400)
        if any(parameter["in"] == "query" for parameter in query_or_header):
            statuses.append(414)  # a long enough query makes the request line too long
        if has_body:
            statuses.append(413)
        if self.is_staff_only():
            statuses += [401, 403]
        if "{" in self.path:
            statuses.append(404)
        if self.view.get_throttles():
            statuses.append(429)
        return sorted(statuses)
