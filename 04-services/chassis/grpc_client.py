"""Calling another service: one channel per target, the request's deadline on every call,
retries in one place with a budget, errors back as domain errors.

    inventory = ServiceClient(
        "inventory",
        target=lambda: settings.SHOP_INVENTORY_GRPC_TARGET,
        stub=inventory_pb2_grpc.InventoryServiceStub,
        service="shop.inventory.v1.InventoryService",
        retried=("GetAvailability", "Reserve", "Commit", "Release", "Restock"),
    )
    levels = inventory.call("GetAvailability", request)

Deadlines: a call gets what is left of the request's budget, less a margin
(chassis.deadlines); a call with nothing left is not made.

Retries: which methods are retried is the caller's promise that a second copy does no harm:
reads, and writes made idempotent by a key the caller chose (a reservation id, a charge's
idempotency key). The channel retries them (its service config's retryPolicy) on
UNAVAILABLE, which is a call that never reached a servicer (the process is down, restarting,
or refused the connection): a servicer's own answer comes with `grpc-retry-pushback-ms: -1`
(chassis.grpc_server), which tells the channel not to retry it. So a call path retries at
one hop only, the one in front of the process that is down, and a dead catalog behind the
orders service costs RETRY_POLICY["maxAttempts"] catalog attempts per request, not that many
squared. The channel's retryThrottling is the retry budget: each failed call takes a token,
each success gives back a tenth of one, and below half the tokens the channel stops retrying
at all, so a dependency that stays down gets one attempt per call, not three.
"""

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

import grpc
from django.conf import settings
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chassis import certificates, deadlines
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
# The retry budget of one channel (gRFC A6 "retry throttling"): retries stop while the tokens
# are at or below maxTokens / 2, i.e. after about 5 failures in a row; every success gives
# back tokenRatio of a token.
RETRY_THROTTLING = {"maxTokens": 10, "tokenRatio": 0.1}
HEALTH_TIMEOUT = 1.0  # seconds: a readiness probe must answer fast

_channels: dict[tuple[str, str, str], grpc.Channel] = {}
# A stub makes a callable for every method of its service when it is built: built once per
# channel, not per call (that was 7% of the gateway's CPU on the product list).
_stubs: dict[tuple[str, str, str], Any] = {}
_channels_lock = threading.Lock()


def close_channels() -> None:
    """Close every channel this process made (the next call makes a new one). For tests: a
    channel's retry budget outlives the test that spent it."""
    with _channels_lock:
        for channel in _channels.values():
            channel.close()
        _channels.clear()
        _stubs.clear()


def open_channel(target: str, *, options: list | None = None) -> grpc.Channel:
    """Plaintext, or mutual TLS when settings.SHOP_GRPC_TLS_DIR names the certificates: the
    caller shows its own (settings.SERVICE's) and checks the server's against the stage's
    authority, and its name against the target's host."""
    if not settings.SHOP_GRPC_TLS_DIR:
        return grpc.insecure_channel(target, options=options)
    credentials = certificates.channel_credentials(settings.SHOP_GRPC_TLS_DIR, settings.SERVICE)
    return grpc.secure_channel(target, credentials, options=options)


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
                ],
                "retryThrottling": RETRY_THROTTLING,
            }
        )

    def channel(self) -> grpc.Channel:
        """The channel to the service, made once per process and target (channels are
        thread-safe, keep their connection and reconnect by themselves). gunicorn forks its
        workers before the first request, so no channel crosses a fork."""
        return self._connected()[0]

    def _connected(self) -> tuple[grpc.Channel, Any]:
        """The channel and a stub on it, both made on first use."""
        key = (self.service, self._target(), settings.SHOP_GRPC_TLS_DIR)
        options = [("grpc.enable_retries", 1), ("grpc.service_config", self._service_config)]
        with _channels_lock:
            if key not in _channels:
                _channels[key] = open_channel(key[1], options=options)
                _stubs[key] = self._stub_class(_channels[key])
            return _channels[key], _stubs[key]

    def call(self, method: str, request: Any, *, timeout: float | None = None) -> Any:
        """One call with what is left of the request's time (at most `timeout` seconds; see
        chassis.deadlines); a failure raised as the domain error it stands for."""
        deadline = deadlines.timeout_for(self.name, cap=timeout)
        stub = self._connected()[1]
        try:
            return getattr(stub, method)(request, timeout=deadline, metadata=outgoing_metadata())
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
