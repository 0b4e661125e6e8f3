"""Faults a class injects into a running service with `make fault`: added latency, or errors,
on every gRPC call the service answers, for a while.

`make fault FAULT="latency payments 800ms 30s"` writes `<SHOP_VAR_DIR>/faults/payments.json`
(`{"latency_ms": 800, "error": null, "until": <unix time>}`); the process that supervisord
runs under that Procfile name (it sets SUPERVISOR_PROCESS_NAME) reads it here, at most twice
a second, and obeys it until `until`. No file, an expired one, or a process not started by
`make run`: nothing happens, at the cost of one stat() per half second.

The health and reflection services are left alone: a fault slows or breaks the service's
own calls, the way an overloaded database or a bad deploy would, not the probes.
"""

import json
import os
import threading
import time
from pathlib import Path

import grpc

FAULTS_FOLDER = "faults"
UNTOUCHED = ("/grpc.health.v1.Health/", "/grpc.reflection.")
RELOAD_SECONDS = 0.5


class FaultInterceptor(grpc.ServerInterceptor):
    """Delays or fails each unary call while the fault file says so."""

    def __init__(self, path: Path):
        self._path = path
        self._lock = threading.Lock()
        self._read_at = 0.0
        self._fault: dict | None = None

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        if handler_call_details.method.startswith(UNTOUCHED):
            return handler
        behaviour = handler.unary_unary

        # Runs in the server's worker thread, as the method would: a delay here holds one
        # call, never the server's loop.
        def with_fault(request, context):
            fault = self.current()
            if fault:
                time.sleep((fault.get("latency_ms") or 0) / 1000)
                if fault.get("error"):
                    context.abort(
                        grpc.StatusCode[fault["error"]],
                        f"fault injected by `make fault` until {fault['until']:.0f}",
                    )
            return behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(
            with_fault,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def current(self) -> dict | None:
        """The fault in force now, or None."""
        now = time.time()
        with self._lock:
            if now - self._read_at > RELOAD_SECONDS:
                self._read_at = now
                try:
                    self._fault = json.loads(self._path.read_text())
                except (OSError, ValueError):
                    self._fault = None
            fault = self._fault
        return fault if fault and fault.get("until", 0) > now else None


def interceptors() -> list[grpc.ServerInterceptor]:
    """The fault interceptor of this process, if `make run` started it (else none)."""
    name = os.environ.get("SUPERVISOR_PROCESS_NAME")
    var_dir = os.environ.get("SHOP_VAR_DIR")
    if not name or not var_dir:
        return []
    return [FaultInterceptor(Path(var_dir) / FAULTS_FOLDER / f"{name}.json")]
