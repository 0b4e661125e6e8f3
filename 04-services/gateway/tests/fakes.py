"""Fake gRPC services for the gateway's tests: the four services' real interfaces, served by a
real gRPC server on a free port, answering what each test scripts.

The gateway is a translator (HTTP in, gRPC out, and back), so a test says what a service
answers and checks what the client gets and what the service was asked:

    services.catalog.answer("GetProduct", a_product(id=7))
    services.catalog.answer("GetProduct", NotFound())              # raised by the service
    services.catalog.answer("ListProducts", lambda request: ...)   # computed from the request

Each fake method is wrapped in the chassis's `rpc`, as a real servicer's is, so a ShopError
raised here travels as the very status a real service would send (chassis.grpc_errors), and
the gateway reads it back the way it will in production. A method nobody scripted fails as a
bug in the service would (INTERNAL).
"""

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import grpc
from chassis.grpc_server import registers, rpc
from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from shop.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from shop.orders.v1 import orders_pb2, orders_pb2_grpc
from shop.payments.v1 import payments_pb2, payments_pb2_grpc


@dataclass(frozen=True)
class Call:
    method: str
    request: Any
    metadata: dict[str, str]


class FakeService:
    """One service of a .proto, every method answering what `answer` scripted."""

    def __init__(self, messages: ModuleType, stubs: ModuleType, service: str):
        descriptor = messages.DESCRIPTOR.services_by_name[service]
        self.full_name = descriptor.full_name
        self.answers: dict[str, Any] = {}
        self.raw_answers: dict[str, Callable[[Any, grpc.ServicerContext], Any]] = {}
        self.calls: list[Call] = []
        methods = {method.name: self._method(method.name) for method in descriptor.methods}
        servicer_class = type(f"Fake{service}", (getattr(stubs, f"{service}Servicer"),), methods)
        self._servicer = servicer_class()
        self._add_to_server = getattr(stubs, f"add_{service}Servicer_to_server")

    def answer(self, method: str, reply: Any) -> None:
        """From now on `method` answers `reply`: a message, an exception to raise, or a
        function of the request returning the message."""
        self.answers[method] = reply

    def answer_raw(self, method: str, handler: Callable[[Any, grpc.ServicerContext], Any]) -> None:
        """From now on `method` is `handler(request, context)` itself, outside the chassis's
        `rpc` wrapper: for what no servicer answers (a bare status from a stopping server)."""
        self.raw_answers[method] = handler

    def requests(self, method: str) -> list[Any]:
        """The requests `method` received, oldest first."""
        return [call.request for call in self.calls if call.method == method]

    def reset(self) -> None:
        self.answers.clear()
        self.raw_answers.clear()
        self.calls.clear()

    def add_to(self, server: grpc.Server) -> None:
        self._add_to_server(self._servicer, server)

    def _method(self, name: str) -> Callable[[Any, Any, grpc.ServicerContext], Any]:
        def handle(servicer: Any, request: Any, context: grpc.ServicerContext) -> Any:
            self.calls.append(Call(name, request, dict(context.invocation_metadata())))
            reply = self.answers.get(name)
            if reply is None:
                raise NotImplementedError(f"the test did not script {name}")
            if isinstance(reply, Exception):
                raise reply
            return reply(request) if callable(reply) else reply

        handle.__name__ = name
        wrapped = rpc(handle)

        def dispatch(servicer: Any, request: Any, context: grpc.ServicerContext) -> Any:
            raw = self.raw_answers.get(name)
            if raw is None:
                return wrapped(servicer, request, context)
            self.calls.append(Call(name, request, dict(context.invocation_metadata())))
            return raw(request, context)

        return dispatch


@dataclass(frozen=True)
class FakeServices:
    catalog: FakeService
    inventory: FakeService
    orders: FakeService
    payments: FakeService

    @classmethod
    def make(cls) -> "FakeServices":
        return cls(
            catalog=FakeService(catalog_pb2, catalog_pb2_grpc, "CatalogService"),
            inventory=FakeService(inventory_pb2, inventory_pb2_grpc, "InventoryService"),
            orders=FakeService(orders_pb2, orders_pb2_grpc, "OrdersService"),
            payments=FakeService(payments_pb2, payments_pb2_grpc, "PaymentsService"),
        )

    def all(self) -> tuple[FakeService, ...]:
        return (self.catalog, self.inventory, self.orders, self.payments)

    def register(self) -> Callable[[grpc.Server], None]:
        """A `register(server)` for chassis.testing.running_server: all four on one server
        (each with its own health status, as four servers would have)."""

        @registers(*(fake.full_name for fake in self.all()))
        def register(server: grpc.Server) -> None:
            for fake in self.all():
                fake.add_to(server)

        return register
