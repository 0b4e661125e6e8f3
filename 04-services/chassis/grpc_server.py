"""A service's gRPC server: the servicer's calls wrapped once, health and reflection added.

`rpc` wraps each servicer method (the decorator is the chassis's "interceptor": one place for
what every call needs, as a server interceptor would be, but with the servicer's own
exceptions in reach):

- the caller's request id (metadata x-request-id) goes into the logs of the call, and with
  mutual TLS on, who the caller is (its certificate's name);
- the caller's deadline becomes the budget of the calls this one makes (chassis.deadlines):
  they get what is left of it, not a fresh deadline each;
- Django's database connections are checked before and after, as its request cycle would
  (the server's threads live outside any Django request);
- a raised exception ends the call with its status (grpc_errors.to_status): a domain error
  with its code, a database that is down as UNAVAILABLE, anything else as INTERNAL with the
  traceback logged. No exception stops the server. The status says "do not retry"
  (`grpc-retry-pushback-ms: -1`, gRFC A6): the servicer answered, so whatever could be
  retried behind it was retried there; the caller's channel retries only a call that never
  reached a servicer (see chassis.grpc_client).

`build_server` gives a server with the servicers, the standard health service (SERVING for
"" and each service name) and reflection (so `grpcurl` and friends can list the methods).
With settings.SHOP_GRPC_TLS_DIR set, its port is mutual TLS: it shows settings.SERVICE's
certificate and accepts only callers with a certificate of the stage's authority
(chassis.certificates); anyone else fails the handshake before any servicer runs.
A service says what to serve with one function, marked with the names it registers:

    @registers("shop.inventory.v1.InventoryService")
    def register(server):
        inventory_pb2_grpc.add_InventoryServiceServicer_to_server(InventoryServicer(), server)

and points settings.SHOP_GRPC_SERVICERS at it (`serve_grpc` and the tests' in-process
server both call it).
"""

import functools
import logging
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import grpc
from django.conf import settings
from django.db import close_old_connections
from google.rpc import code_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from chassis import certificates, deadlines, faults, grpc_errors, metrics
from chassis.request_ids import METADATA_KEY, request_id_var, valid_request_id

logger = logging.getLogger("chassis.grpc")


def registers(*service_names: str):
    """Mark a `register(server)` function with the full names of the services it adds."""

    def mark(register: Callable[[grpc.Server], None]):
        register.service_names = service_names
        return register

    return mark


def rpc(method: Callable[[Any, Any, grpc.ServicerContext], Any]):
    """Wrap one servicer method (see the module's docstring)."""

    @functools.wraps(method)
    def call(servicer: Any, request: Any, context: grpc.ServicerContext) -> Any:
        incoming = dict(context.invocation_metadata()).get(METADATA_KEY, "")
        token = request_id_var.set(valid_request_id(incoming))
        started = time.perf_counter()
        close_old_connections()
        try:
            with deadlines.from_call(context.time_remaining()):
                answer = method(servicer, request, context)
            outcome = "OK"
        except Exception as error:  # every failure becomes a status; none stops the server
            status = grpc_errors.to_status(error, method=method.__name__)
            outcome = code_pb2.Code.Name(status.code)
        else:
            status = None
        finally:
            close_old_connections()
            seconds = time.perf_counter() - started
            metrics.observe_grpc_call(method.__qualname__, outcome, seconds)
            logger.info(
                "event=grpc_call method=%s caller=%s outcome=%s ms=%.1f",
                method.__name__,
                _caller(context),
                outcome,
                seconds * 1000,
            )
            request_id_var.reset(token)
        if status is not None:
            context.abort_with_status(grpc_errors.final(rpc_status.to_status(status)))
        return answer

    return call


def _caller(context: grpc.ServicerContext) -> str:
    """The caller's name from its TLS certificate, or "-" on a plaintext port."""
    names = context.auth_context().get("x509_common_name") or [b"-"]
    return names[0].decode()


def build_server(
    address: str,
    *,
    register: Callable[[grpc.Server], None],
    service_names: Iterable[str],
    max_workers: int = 10,
    health_servicer: health.HealthServicer | None = None,
) -> tuple[grpc.Server, int]:
    """A server with `register(server)`'s servicers, health and reflection, bound to
    `address` ("host:port"; port 0 picks a free one), not started. Returns it and its port."""
    service_names = list(service_names)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        interceptors=faults.interceptors(),  # `make fault`'s latency and errors, when asked
        # Fail to start when the port is taken, rather than share it with whatever holds it
        # (gRPC sets SO_REUSEPORT by default: two servers would split the calls).
        options=[("grpc.so_reuseport", 0)],
    )
    register(server)
    health_servicer = health_servicer or health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *service_names):  # "": the server as a whole
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    if settings.SHOP_GRPC_TLS_DIR:
        credentials = certificates.server_credentials(settings.SHOP_GRPC_TLS_DIR, settings.SERVICE)
        return server, server.add_secure_port(address, credentials)
    return server, server.add_insecure_port(address)
