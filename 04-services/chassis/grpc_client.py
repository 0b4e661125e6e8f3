"""Calling another service: one channel per target, a deadline on every call, retries by the
channel's own policy for the methods that are safe to repeat, errors back as domain errors.

    inventory = ServiceClient(
        "inventory",
        target=lambda: settings.SHOP_INVENTORY_GRPC_TARGET,
        stub=inventory_pb2_grpc.InventoryServiceStub,
        service="shop.inventory.v1.InventoryService",
        retried=("GetAvailability", "Reserve", "Commit", "Release", "Restock"),
    )
    levels = inventory.call("GetAvailability", request)

Which methods are retried is the caller's promise that a second copy does no harm: reads,
and writes made idempotent by a key the caller chose (a reservation id, a charge's
idempotency key). UNAVAILABLE only: the request never reached a server, or the server said
it could not take it. The deadline (`timeout`, seconds) covers every attempt.
"""

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from django.conf import settings
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chassis.errors import ServiceUnavailable
from chassis.grpc_errors import from_rpc_error
from chassis.request_ids import outgoing_metadata

RETRY_POLICY = {
    "maxAttempts": 3,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
HEALTH_TIMEOUT = 1.0  # seconds: a readiness probe must answer fast

_channels: dict[tuple[str, str], grpc.Channel] = {}
# A stub makes a callable for every method of its service when it is built: built once per
# channel, not per call (that was 7% of the gateway's CPU on the product list).
_stubs: dict[tuple[str, str], Any] = {}
_channels_lock = threading.Lock()


class ServiceClient:
    def __init__(
        self,
        name: str,
        *,
        target: Callable[[], str],
        stub: Callable[[grpc.Channel], Any],
        service: str,
        retried: Iterable[str] = (),
    ):
        self.name = name  # for messages: "the inventory service is unavailable"
        self._target = target  # read on every call: tests and settings may change it
        self._stub_class = stub
        self.service = service
        self._service_config = json.dumps(
            {
                "methodConfig": [
                    {
                        "name": [{"service": service, "method": method} for method in retried],
                        "retryPolicy": RETRY_POLICY,
                    }
                ]
            }
        )

    def channel(self) -> grpc.Channel:
        """The channel to the service, made once per process and target (channels are
        thread-safe, keep their connection and reconnect by themselves). gunicorn forks its
        workers before the first request, so no channel crosses a fork."""
        return self._connected()[0]

    def _connected(self) -> tuple[grpc.Channel, Any]:
        """The channel and a stub on it, both made on first use."""
        key = (self.service, self._target())
        with _channels_lock:
            if key not in _channels:
                _channels[key] = grpc.insecure_channel(
                    key[1],
                    options=[
                        ("grpc.enable_retries", 1),
                        ("grpc.service_config", self._service_config),
                    ],
                )
                _stubs[key] = self._stub_class(_channels[key])
            return _channels[key], _stubs[key]

    def call(self, method: str, request: Any, *, timeout: float | None = None) -> Any:
        """One call with its deadline; a failure raised as the domain error it stands for."""
        stub = self._connected()[1]
        try:
            return getattr(stub, method)(
                request,
                timeout=timeout or settings.SHOP_GRPC_TIMEOUT,
                metadata=outgoing_metadata(),
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error, service=self.name) from error

    def check(self) -> None:
        """The service's standard health check: SERVING within HEALTH_TIMEOUT, or raise."""
        request = health_pb2.HealthCheckRequest(service=self.service)
        try:
            answer = health_pb2_grpc.HealthStub(self.channel()).Check(
                request, timeout=HEALTH_TIMEOUT
            )
        except grpc.RpcError as error:
            raise ServiceUnavailable(f"{self.name}: {error.code().name}") from error
        if answer.status != health_pb2.HealthCheckResponse.SERVING:
            raise ServiceUnavailable(f"{self.name}: not serving")
