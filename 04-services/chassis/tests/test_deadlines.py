"""One budget per request, carried down a chain of services (chassis.deadlines).

Three in-process services call one another: front -> middle -> last. Each hop is a real
gRPC server with the chassis's `rpc` wrapper and calls the next with the chassis's client,
as the gateway -> orders -> payments path of a checkout does.
"""

import contextlib
import threading
import time

import pytest
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from chassis import deadlines, errors
from chassis.grpc_client import ServiceClient
from chassis.grpc_server import registers, rpc
from chassis.testing import running_server

SERVICE = "shop.catalog.v1.CatalogService"
BUDGET = 1.0  # seconds: the public request's
HOPS = ("front", "middle", "last")


def client_for(name: str) -> ServiceClient:
    from django.conf import settings

    return ServiceClient(
        name,
        target=lambda: settings.SHOP_GRPC_TARGETS[name],
        stub=catalog_pb2_grpc.CatalogServiceStub,
        service=SERVICE,
        retried=("GetProduct",),
    )


class Hop(catalog_pb2_grpc.CatalogServiceServicer):
    """Calls `next_hop`'s GetProduct, or (the last) waits until released or given up."""

    def __init__(self, next_hop: str | None) -> None:
        self.next_hop = next_hop
        self.time_given: list[float | None] = []  # what each call arrived with
        self.released = threading.Event()

    @rpc
    def GetProduct(self, request, context):  # noqa: N802 (gRPC's method names)
        self.time_given.append(context.time_remaining())
        if self.next_hop is not None:
            return client_for(self.next_hop).call("GetProduct", request)
        while context.is_active() and not self.released.wait(0.01):
            pass
        return catalog_pb2.Product(id=request.id)


@pytest.fixture
def chain(settings):
    """The three hops, each on its own server; yields {name: Hop}."""
    hops = {name: Hop(next_hop) for name, next_hop in zip(HOPS, (*HOPS[1:], None), strict=True)}
    settings.SHOP_GRPC_TIMEOUT = 5.0  # what each hop would wait without a shared budget
    with contextlib.ExitStack() as servers:
        for name, hop in hops.items():
            target = servers.enter_context(running_server(_register(hop)))
            settings.SHOP_GRPC_TARGETS = {**settings.SHOP_GRPC_TARGETS, name: target}
        yield hops
        hops["last"].released.set()


def _register(hop: Hop):
    @registers(SERVICE)
    def register(server):
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(hop, server)

    return register


def test_a_hanging_last_hop_costs_the_budget_once_not_once_per_hop(chain, settings):
    margin = settings.SHOP_GRPC_DEADLINE_MARGIN

    started = time.monotonic()
    with deadlines.budget(BUDGET), pytest.raises(errors.ServiceUnavailable) as raised:
        client_for("front").call("GetProduct", catalog_pb2.GetProductRequest(id=1))
    took = time.monotonic() - started

    assert took < BUDGET
    # The hop that gave up is the one in front of the hanging service, a margin before its
    # caller would have: the error that comes back names the service that did not answer.
    assert raised.value.details == {"service": "last"}
    assert raised.value.message == "The last service did not answer in time."
    # Each hop got what was left, less a margin per hop, never a fresh deadline of its own.
    [front], [middle], [last] = (chain[name].time_given for name in HOPS)
    assert front <= BUDGET - margin
    assert middle <= front - margin
    assert last <= middle - margin


def test_a_call_with_no_time_left_is_not_made(chain, settings):
    spent = settings.SHOP_GRPC_DEADLINE_MARGIN / 2
    with deadlines.budget(spent), pytest.raises(errors.ServiceUnavailable) as raised:
        client_for("front").call("GetProduct", catalog_pb2.GetProductRequest(id=1))

    assert "ran out of time before it could call the front service" in raised.value.message
    assert chain["front"].time_given == []


def test_without_a_budget_a_call_gets_the_default_deadline(chain, settings):
    settings.SHOP_GRPC_TIMEOUT = 0.5

    with pytest.raises(errors.ServiceUnavailable):
        client_for("front").call("GetProduct", catalog_pb2.GetProductRequest(id=1))

    [front] = chain["front"].time_given
    assert 0.3 < front <= 0.5
