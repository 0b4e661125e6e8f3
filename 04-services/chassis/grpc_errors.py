"""Domain errors <-> gRPC statuses, in one place, both ways.

A server turns the ShopError it caught into a status (`to_status`); a client turns the
status back into the same ShopError (`from_rpc_error`), so that an `out_of_stock` raised in
the inventory service reaches the gateway as OutOfStock, with its shortages, through the
orders service, and the gateway renders it as API.md says. The status carries:

- the code: NOT_FOUND, INVALID_ARGUMENT (with a google.rpc.BadRequest naming the fields),
  FAILED_PRECONDITION (a business rule said no), UNAVAILABLE (a dependency is down),
  ALREADY_EXISTS (a duplicate, with BadRequest), INTERNAL (a bug);
- a google.rpc.ErrorInfo: reason = the API's error code, metadata["details"] = the error's
  details as JSON (e.g. the shortages of out_of_stock).

A ServiceUnavailable names the service that failed in its details ({"service": "catalog"}),
and keeps naming it on the way up: the orders service relays "the catalog service is
unavailable" to the gateway as it got it, instead of the gateway saying "the orders service
is unavailable" about a service that answered. A call that got no servicer's answer at all
(UNAVAILABLE from the transport, a missed deadline, CANCELLED or UNKNOWN from a server that
is stopping) is the called service's failure, and as retryable as UNAVAILABLE: never a 500.
"""

import json
import logging

import grpc
from django.conf import settings
from django.db import InterfaceError, OperationalError
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from chassis.errors import (
    InternalError,
    NotFound,
    ServiceUnavailable,
    ShopError,
    ValidationFailed,
    error_class,
)

logger = logging.getLogger(__name__)

DOMAIN = "shop"
# Which status code a domain error travels as. A class not listed, and not below one that is,
# is a rule the request broke: FAILED_PRECONDITION.
CODES: list[tuple[type[ShopError], int]] = [
    (NotFound, code_pb2.NOT_FOUND),
    (ValidationFailed, code_pb2.INVALID_ARGUMENT),
    (ServiceUnavailable, code_pb2.UNAVAILABLE),
    (InternalError, code_pb2.INTERNAL),
]
# Codes that, without a servicer's ErrorInfo, mean "the called service did not answer".
UNAVAILABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,  # the server was stopped with the call in flight
    grpc.StatusCode.UNKNOWN,  # the server process went away mid-call
}


def _pack(message) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


def to_status(error: Exception, *, method: str = "") -> status_pb2.Status:
    """The status a call that raised `error` ends with. Call it while handling `error`."""
    if isinstance(error, OperationalError | InterfaceError):  # the service's database is down
        logger.warning("event=grpc_unavailable method=%s error=%r", method, error)
        error = ServiceUnavailable(
            f"The {settings.SERVICE} service cannot reach its database.",
            details={"service": settings.SERVICE},
        )
    if not isinstance(error, ShopError):
        logger.exception("event=grpc_internal_error method=%s", method)
        error = InternalError()
    code = next((code for cls, code in CODES if isinstance(error, cls)), None)
    code = getattr(error, "grpc_code", None) or code or code_pb2.FAILED_PRECONDITION
    metadata = {"details": json.dumps(error.details)} if error.details else {}
    details = [
        _pack(error_details_pb2.ErrorInfo(reason=error.code, domain=DOMAIN, metadata=metadata))
    ]
    fields = getattr(error, "fields", None) or {}
    if fields:
        violations = [
            error_details_pb2.BadRequest.FieldViolation(field=field, description=reason)
            for field, reasons in fields.items()
            for reason in reasons
        ]
        details.append(_pack(error_details_pb2.BadRequest(field_violations=violations)))
    return status_pb2.Status(code=code, message=error.message, details=details)


class _Status(grpc.Status):
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: tuple) -> None:
        self.code, self.details, self.trailing_metadata = code, details, trailing_metadata


# gRFC A6's server pushback: a negative value tells the caller's channel not to retry.
NO_RETRY = ("grpc-retry-pushback-ms", "-1")


def final(status: grpc.Status) -> grpc.Status:
    """`status` with "do not retry this answer" added (see chassis.grpc_server)."""
    return _Status(status.code, status.details, (*status.trailing_metadata, NO_RETRY))


def from_rpc_error(error: grpc.RpcError, *, service: str) -> ShopError:
    """The ShopError a failed call stands for. `service` names the callee in messages."""
    code, message = error.code(), error.details() or ""
    reason, details, fields = "", None, {}
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
            details = json.loads(info.metadata["details"]) if "details" in info.metadata else None
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            for violation in bad_request.field_violations:
                fields.setdefault(violation.field, []).append(violation.description)
    cls = error_class(reason) if reason else None
    if cls is None and code in UNAVAILABLE:  # no servicer answered: the callee failed
        logger.warning("event=grpc_call_unavailable service=%s code=%s", service, code.name)
        late = code == grpc.StatusCode.DEADLINE_EXCEEDED
        return ServiceUnavailable(
            f"The {service} service {'did not answer in time' if late else 'is unavailable'}.",
            details={"service": service},
        )
    if cls is None:
        logger.error(
            "event=grpc_call_failed service=%s code=%s details=%r", service, code.name, message
        )
        return InternalError()
    shop_error = cls.__new__(cls)  # rebuilt as it was, whatever its __init__ asks for
    ShopError.__init__(shop_error, message or None, details=details)
    if fields or isinstance(shop_error, ValidationFailed):
        shop_error.fields = fields or {"non_field_errors": [shop_error.message]}
    if isinstance(shop_error, ServiceUnavailable) and "service" not in (details or {}):
        shop_error.details = {**(details or {}), "service": service}  # it failed itself
    return shop_error
