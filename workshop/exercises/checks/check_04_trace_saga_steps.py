"""Check of exercise 04-trace-saga-steps: a checkout's trace shows its saga's steps. Around
each remote step of `orders.sagas.run_checkout` there is a span of our own, made with the
OpenTelemetry API: "saga reserve", "saga charge", "saga commit", in that order, children of
the span that was current when the checkout began (the PlaceOrder server span, in the running
stage), each covering its call to the other service, each naming its order
(`shop.order.id`); "saga reserve" also counts the order's lines (`shop.order.lines`, an int).
A step that fails is an error in the trace, and the steps after it never start.

The saga runs in the test's thread (`checkout.place_order`), against the orders tests' fakes
(tests/fakes.py) on an in-process gRPC server. Its spans are the real ones the SDK ends: they
go to an in-memory exporter beside the stage's own (none, in a test).
"""

import time

import pytest
from chassis.errors import OutOfStock
from chassis.testing import django_db_modify_db_settings, running_server  # noqa: F401 (a fixture)
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from orders import checkout
from orders.models import Cart
from orders.tests.fakes import FakeInventory, FakePayments, Fakes

pytestmark = pytest.mark.django_db

STEPS = ["saga reserve", "saga charge", "saga commit"]
CALLS = {"saga reserve": "Reserve", "saga charge": "CreateCharge", "saga commit": "Commit"}


class Timed:
    """Records when each of the fake service's calls ran, on the server's side of the
    channel (time.time_ns, the clock the SDK stamps spans with)."""

    def timed(self, name: str, call, request, context):
        started = time.time_ns()
        try:
            return call(request, context)
        finally:
            self.ran.setdefault(name, []).append((started, time.time_ns()))


class TimedInventory(Timed, FakeInventory):
    def __init__(self) -> None:
        super().__init__()
        self.ran: dict[str, list[tuple[int, int]]] = {}

    def Reserve(self, request, context):  # noqa: N802 (gRPC's method names)
        return self.timed("Reserve", super().Reserve, request, context)

    def Commit(self, request, context):  # noqa: N802
        return self.timed("Commit", super().Commit, request, context)


class TimedPayments(Timed, FakePayments):
    def __init__(self) -> None:
        super().__init__()
        self.ran: dict[str, list[tuple[int, int]]] = {}

    def CreateCharge(self, request, context):  # noqa: N802
        return self.timed("CreateCharge", super().CreateCharge, request, context)


@pytest.fixture
def fakes(settings):
    fakes = Fakes()
    fakes.inventory = TimedInventory()
    fakes.payments = TimedPayments()
    with running_server(fakes.register) as target:
        settings.SHOP_GRPC_TARGETS = {
            **settings.SHOP_GRPC_TARGETS,
            **{service: target for service in ("catalog", "inventory", "payments")},
        }
        yield fakes


@pytest.fixture(scope="module")
def finished_spans() -> InMemorySpanExporter:
    """Every span this process ends, kept in memory. OTel allows one provider per process:
    use the one a command set up, if any (chassis.telemetry.setup)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


@pytest.fixture
def spans(finished_spans) -> InMemorySpanExporter:
    finished_spans.clear()
    return finished_spans


def a_cart(fakes, quantities: dict[int, int]):
    cart = Cart.objects.create()
    for product_id, quantity in quantities.items():
        fakes.product(product_id, stock=10)
        cart.items.create(product_id=product_id, quantity=quantity)
    return cart.id


def check_out_in_a_request(cart_id):
    """The checkout under a span of its own, as the PlaceOrder server span is in the stage;
    returns (the order or the error it raised, that span)."""
    with trace.get_tracer("check").start_as_current_span("PlaceOrder") as request:
        try:
            order, _replayed = checkout.place_order(
                cart_id=cart_id, email="ada@example.com", payment_token="tok_visa"
            )
        except OutOfStock as error:
            return error, request
    return order, request


def steps_of(spans: InMemorySpanExporter) -> dict:
    found = {}
    for span in spans.get_finished_spans():
        if span.name in STEPS:
            assert span.name not in found, (
                f"two spans named {span.name!r} in one checkout: one span per step, around "
                "its one remote call"
            )
            found[span.name] = span
    return found


def test_a_checkout_shows_its_saga_steps_in_order_under_the_request(fakes, spans):
    order, request = check_out_in_a_request(a_cart(fakes, {1: 2}))

    assert order.status == "confirmed", f"the checkout must still confirm: {order!r}"
    found = steps_of(spans)
    missing = [name for name in STEPS if name not in found]
    assert not missing, (
        f"no span named {missing} in the checkout's trace (spans seen: "
        f"{sorted({span.name for span in spans.get_finished_spans()})}); in "
        "orders/sagas.py:run_checkout, wrap each remote step in "
        "telemetry.tracer.start_as_current_span(...)"
    )
    context = request.get_span_context()
    for name in STEPS:
        span = found[name]
        assert span.context.trace_id == context.trace_id, f"{name!r} is in another trace"
        assert span.parent is not None and span.parent.span_id == context.span_id, (
            f"{name!r} is not a child of the request's span: start it as the current span "
            "inside the checkout, not with a context of its own"
        )
    ordered = sorted(STEPS, key=lambda name: found[name].start_time)
    assert ordered == STEPS, f"the steps started in the order {ordered}, not {STEPS}"
    for earlier, later in zip(STEPS, STEPS[1:], strict=False):
        assert found[earlier].end_time <= found[later].start_time, (
            f"{earlier!r} had not ended when {later!r} began: one step, then the next"
        )


def test_each_step_span_covers_its_call_to_the_other_service(fakes, spans):
    check_out_in_a_request(a_cart(fakes, {1: 2}))

    found = steps_of(spans)
    ran = {**fakes.inventory.ran, **fakes.payments.ran}
    for name, method in CALLS.items():
        assert name in found, f"no span named {name!r}"
        span = found[name]
        [(started, ended)] = ran[method]
        assert span.start_time <= started and ended <= span.end_time, (
            f"{name!r} does not cover the {method} call it is named after (it ran "
            f"{(started - span.start_time) / 1e6:.2f} ms after the span began, and ended "
            f"{(ended - span.end_time) / 1e6:.2f} ms after it ended): start the span before "
            "the call, end it after the answer"
        )


def test_the_step_spans_name_their_order_and_count_its_lines(fakes, spans):
    order, _request = check_out_in_a_request(a_cart(fakes, {1: 2, 2: 1, 3: 5}))

    found = steps_of(spans)
    for name in STEPS:
        assert name in found, f"no span named {name!r}"
        attributes = found[name].attributes or {}
        assert attributes.get("shop.order.id") == str(order.id), (
            f"{name!r} has shop.order.id={attributes.get('shop.order.id')!r}; expected the "
            f"order's id as a string, {str(order.id)!r} (as the recovery's span names it)"
        )
    lines = (found["saga reserve"].attributes or {}).get("shop.order.lines")
    assert lines == 3 and isinstance(lines, int), (
        f"'saga reserve' has shop.order.lines={lines!r}; expected the number of the order's "
        "lines as an int (3 here), so a backend can compare and sum it"
    )


def test_a_step_that_fails_is_an_error_in_the_trace_and_the_saga_stops_there(fakes, spans):
    cart_id = a_cart(fakes, {1: 2})
    fakes.inventory.stock[1] = 1

    error, _request = check_out_in_a_request(cart_id)

    assert isinstance(error, OutOfStock), f"the checkout must fail out of stock: {error!r}"
    found = steps_of(spans)
    assert "saga reserve" in found, "no span named 'saga reserve' for the refused reservation"
    status = found["saga reserve"].status
    assert status.status_code == StatusCode.ERROR, (
        f"'saga reserve' ended with status {status.status_code.name}: a step that raised is "
        "an error in the trace (start_as_current_span records the exception and sets the "
        "status when the error leaves the `with` block: let it)"
    )
    assert "saga charge" not in found and "saga commit" not in found, (
        f"spans of steps that never ran: {sorted(found)}"
    )
