"""Fixtures of the catalog service's tests: a product factory, and the service on an
in-process server, reached through the chassis's own client as the gateway reaches it."""

import itertools
from collections.abc import Iterator

import grpc
import pytest
from chassis.grpc_client import open_channel
from chassis.testing import django_db_modify_db_settings, serving  # noqa: F401 (a fixture)
from shop.catalog.v1 import catalog_pb2_grpc

from catalog import products
from catalog.grpc_api import register

_skus = itertools.count(1)


def make_product(**fields) -> products.Product:
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
def catalog_target(settings) -> Iterator[str]:
    """The catalog's real server (servicer, health, reflection) in-process on a free port;
    chassis.clients.catalog is pointed at it.

    The servicer runs in the server's threads, each with its own database connection: tests
    using this need `django_db(transaction=True)` to share data with them, and CONN_MAX_AGE 0
    makes each thread close its connection after every call, so that none is left open on
    the test database when it is flushed or dropped.
    """
    with serving(register, service="catalog", settings=settings) as target:
        yield target


@pytest.fixture
def catalog_channel(catalog_target) -> Iterator[grpc.Channel]:
    """A channel to the same server (plaintext, or mutual TLS as the stage runs it) without
    the chassis's client, for what that client hides: status codes."""
    with open_channel(catalog_target) as channel:
        yield channel


@pytest.fixture
def catalog_stub(catalog_channel) -> catalog_pb2_grpc.CatalogServiceStub:
    return catalog_pb2_grpc.CatalogServiceStub(catalog_channel)
