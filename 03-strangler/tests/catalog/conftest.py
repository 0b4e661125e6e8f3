"""The catalog service for the monolith's tests: the real one, in a process of its own.

`catalog_backend` runs a test twice: against the monolith's own tables ("local") and against
the extracted catalog service over gRPC ("grpc"). The service is the real `catalog_service`
(a separate Django project with its own database), started once per test run: its own
SQLite file in embedded mode, its own PostgreSQL database beside the test database in real
mode. Its data outlives each test (it is not inside the test's transaction), so the tests
here make unique skus and categories and never count the whole catalog.
"""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ..processes import STAGE_DIR, free_port, process_environment

START_TIMEOUT = 60  # seconds for migrate + the server to answer its health check


def _service_database_url(tmp_path: Path) -> str:
    """The service's database for this test run: never the one `make run` uses."""
    monolith = os.environ.get("DATABASE_URL")
    if not monolith:
        return f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    name = urlsplit(monolith).path.lstrip("/") or "shop"
    return urlsplit(monolith)._replace(path=f"/test_{name}_03_catalog", query="").geturl()


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "catalog_service", *args],
        cwd=STAGE_DIR,
        env=env,
        check=True,
        capture_output=True,
    )


def _wait_serving(target: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    request = health_pb2.HealthCheckRequest(service="shop.catalog.v1.CatalogService")
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the catalog service exited ({process.returncode})")
            try:
                if stub.Check(request, timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the catalog service did not serve on {target}")
            time.sleep(0.2)


@pytest.fixture(scope="session")
def catalog_service_environment(tmp_path_factory) -> dict[str, str]:
    """The environment of the catalog service's processes in this test run: its database
    (fresh, migrated) and a folder of its own (CATALOG_DATABASE_URL, SHOP_VAR_DIR)."""
    tmp_path = tmp_path_factory.mktemp("catalog-service")
    env = process_environment(
        CATALOG_DATABASE_URL=_service_database_url(tmp_path), SHOP_VAR_DIR=str(tmp_path)
    )
    _manage(env, "ensure_database")
    _manage(env, "migrate", "--noinput")
    _manage(env, "flush", "--noinput")  # PostgreSQL: what an earlier run left behind
    return env


@pytest.fixture(scope="session")
def catalog_service(catalog_service_environment, tmp_path_factory) -> Iterator[str]:
    """The catalog service's gRPC target, e.g. "127.0.0.1:41234", on a fresh database."""
    env = catalog_service_environment
    tmp_path = Path(env["SHOP_VAR_DIR"])
    target = f"127.0.0.1:{free_port()}"
    log = (tmp_path / "service.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "catalog_service", "serve_grpc", "--address", target],
        cwd=STAGE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_serving(target, process)
        yield target
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture(params=["local", "grpc"])
def catalog_backend(request, settings, db) -> str:
    """Run the test against each implementation behind catalog.api."""
    if request.param == "grpc":
        settings.SHOP_CATALOG_GRPC_TARGET = request.getfixturevalue("catalog_service")
    settings.SHOP_CATALOG_BACKEND = request.param
    return request.param


@pytest.fixture
def unique() -> str:
    """A fresh word for skus and category slugs: the service's data outlives each test."""
    return uuid.uuid4().hex[:10]
