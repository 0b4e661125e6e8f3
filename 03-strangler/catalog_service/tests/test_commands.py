"""The service's commands and settings as the stage runs them: ensure_database, serve_grpc,
and where the service's database is when nobody says."""

import io
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import pytest
from django.core.management import call_command
from django.db import connection
from grpc_health.v1 import health_pb2, health_pb2_grpc

from catalog_service.settings import _beside

STAGE_DIR = Path(__file__).resolve().parents[2]
GENERATED = STAGE_DIR.parent / "proto" / "_generated"


# --- the database's name ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("monolith", "service"),
    [
        (
            "postgres://postgres@127.0.0.1:5432/shop_03",
            "postgres://postgres@127.0.0.1:5432/shop_03_catalog",
        ),
        (
            "postgres://u:p@db:5432/shop_03?pool=true",
            "postgres://u:p@db:5432/shop_03_catalog?pool=true",
        ),
        ("sqlite:////srv/var/db.sqlite3", "sqlite:////srv/var/db_catalog.sqlite3"),
    ],
)
def test_the_services_database_is_named_after_the_monoliths(monolith, service):
    assert _beside(monolith) == service


# --- ensure_database -------------------------------------------------------------------------
def ensure_database() -> str:
    out = io.StringIO()
    call_command("ensure_database", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_ensure_database_prepares_the_database_of_the_mode_in_use(monkeypatch, tmp_path):
    # One test for both modes, each checked when the suite runs in it (make test runs both):
    # SQLite needs its folder; PostgreSQL needs the database, created once.
    if connection.vendor == "sqlite":
        database = tmp_path / "var" / "catalog.sqlite3"
        monkeypatch.setitem(connection.settings_dict, "NAME", str(database))

        output = ensure_database()

        assert database.parent.is_dir()
        assert output == (
            f"ensure_database: SQLite, {database} (folder {database.parent} is there)\n"
        )
        return
    name = f"test_catalog_ensure_{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(connection.settings_dict, "NAME", name)
    try:
        assert ensure_database() == f"ensure_database: created database {name}\n"
        assert ensure_database() == f"ensure_database: database {name} exists already\n"
    finally:
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)}")


# --- serve_grpc ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_grpc_serves_until_sigterm_then_stops_cleanly(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    path = os.pathsep.join([str(STAGE_DIR), str(GENERATED), os.environ.get("PYTHONPATH", "")])
    environment = {**os.environ, "PYTHONPATH": path, "SHOP_VAR_DIR": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "catalog_service", "serve_grpc", "--address", address],
        cwd=STAGE_DIR,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        request = health_pb2.HealthCheckRequest(service="shop.catalog.v1.CatalogService")
        with grpc.insecure_channel(address) as channel:
            # wait_for_ready: the call waits (within its deadline) for the server to start.
            answer = health_pb2_grpc.HealthStub(channel).Check(
                request, timeout=20, wait_for_ready=True
            )
        assert answer.status == health_pb2.HealthCheckResponse.SERVING

        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=10)
    finally:
        server.kill()

    assert server.returncode == 0, output
    assert time.monotonic() - started < 5  # nothing in flight: no need for the grace period
    assert f"event=grpc_serving address={address} service=shop.catalog.v1.CatalogService" in output
    assert "event=grpc_stopped" in output
