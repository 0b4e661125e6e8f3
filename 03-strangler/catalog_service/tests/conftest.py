"""Fixtures of the catalog service's tests: an HTTP client, a product factory, and the gRPC
service on an in-process server with a real channel."""

import itertools
from collections.abc import Callable, Iterator

import grpc
import pytest
from django.conf import settings
from django.db import connections
from kernel.catalog_presenters import Product
from rest_framework.test import APIClient
from shop.catalog.v1 import catalog_pb2_grpc

from catalog_service import products
from catalog_service.grpc_server import build_server

_skus = itertools.count(1)


@pytest.fixture(scope="session")
def django_db_modify_db_settings() -> None:
    """pytest-django's hook before it creates the test databases: SQLite makes a file, not the
    folder it goes in (on a fresh clone, var/ is not there yet)."""
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def make_product(**fields) -> Product:
    """A product through the service's own use case, with whatever fields the test cares about."""
    number = next(_skus)
    values = {
        "sku": f"T-{number:04d}",
        "name": f"Thing {number}",
        "description": "",
        "category": "things",
        "price_cents": 1000,
    }
    return products.create(**{**values, **fields})


@pytest.fixture
def product_factory(db) -> Callable[..., Product]:
    return make_product


@pytest.fixture
def catalog_channel(monkeypatch) -> Iterator[grpc.Channel]:
    """A channel to the catalog service on an in-process server on a free port.

    The servicer runs in the server's threads, each with its own database connection: tests
    using this need `django_db(transaction=True)` to share data with them, and CONN_MAX_AGE 0
    makes each thread close its connection after every call, so that none is left open on
    the test database when it is flushed or dropped.
    """
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)
    server, port = build_server("127.0.0.1:0", max_workers=4)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        server.stop(grace=None).wait()


@pytest.fixture
def catalog(catalog_channel) -> catalog_pb2_grpc.CatalogServiceStub:
    return catalog_pb2_grpc.CatalogServiceStub(catalog_channel)
