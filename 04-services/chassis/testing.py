"""Test helpers every service's tests use: its gRPC server in-process, on a free port, the
fixture that makes the folder of a SQLite test database, and the spans a test made.

A service's tests/conftest.py imports the fixture by name, which is how pytest finds it:
`from chassis.testing import django_db_modify_db_settings  # noqa: F401`.
"""

import contextlib
from collections.abc import Callable, Iterator

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chassis.grpc_server import build_server


@contextlib.contextmanager
def running_server(register: Callable[[grpc.Server], None]) -> Iterator[str]:
    """The service's real server (servicers, health, reflection) on 127.0.0.1 and a free
    port, started; yields its target ("127.0.0.1:41234") and stops it afterwards."""
    server, port = build_server(
        "127.0.0.1:0", register=register, service_names=register.service_names
    )
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


@contextlib.contextmanager
def serving(register: Callable[[grpc.Server], None], *, service: str, settings) -> Iterator[str]:
    """`running_server`, with settings.SHOP_GRPC_TARGETS[service] pointed at it (pytest-django's
    `settings` fixture restores it) and the server threads closing their database connection
    after each call: a connection a thread kept open would stop the test database from being
    dropped at the end of the run."""
    from django.db import connections

    database = connections["default"].settings_dict
    max_age = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    try:
        with running_server(register) as target:
            settings.SHOP_GRPC_TARGETS = {**settings.SHOP_GRPC_TARGETS, service: target}
            yield target
    finally:
        database["CONN_MAX_AGE"] = max_age


@pytest.fixture(scope="session")
def django_db_modify_db_settings() -> None:
    """pytest-django's hook before it creates the test databases: SQLite makes a file, not the
    folder it goes in (on a fresh clone, var/ is not there yet)."""
    from django.conf import settings

    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def spans_in_memory() -> Iterator[InMemorySpanExporter]:
    """Every span this process ends inside the block, kept in memory too. OpenTelemetry allows
    one provider per process: a command a test ran may have set it up already
    (telemetry.setup), and then the spans go to its exporter as well."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    memory = InMemorySpanExporter()
    processor = SimpleSpanProcessor(memory)
    provider.add_span_processor(processor)
    try:
        yield memory
    finally:
        processor.shutdown()  # the exporter takes no more spans
