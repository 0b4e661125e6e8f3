"""The ASGI entry point (gateway/asgi.py): a request's synchronous code runs on a thread that
an earlier request used, rather than on a new one each time; and tracing a request adds no
trip to a thread (chassis/tracing_middleware.py)."""

import asyncio
import importlib
import threading

import pytest
from asgiref.sync import SyncToAsync
from chassis import telemetry
from chassis.testing import spans_in_memory
from chassis.tracing_middleware import AsgiDjangoInstrumentor
from django.core.asgi import get_asgi_application
from django.core.signals import request_started
from django.db import connections
from opentelemetry.instrumentation.django import DjangoInstrumentor


@pytest.fixture
def asgi(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")  # importing the module starts tracing
    module = importlib.import_module("gateway.asgi")
    yield module
    # The idle threads keep their connections open (that is the point): close them, or a
    # PostgreSQL test database could not be dropped at the end of the run.
    for thread in module.RequestThread.idle:
        thread.submit(connections.close_all).result()


def get(application, path: str) -> int:
    """The status of GET `path`, sent to the ASGI application as gunicorn's worker would."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def request() -> int:
        sent = []
        body_read = False

        async def receive() -> dict:
            nonlocal body_read
            if not body_read:
                body_read = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays connected

        async def send(message: dict) -> None:
            sent.append(message)

        await application(scope, receive, send)
        return sent[0]["status"]

    return asyncio.run(request())


def test_requests_one_after_another_run_on_one_thread(asgi):
    threads = []

    def note_thread(**kwargs) -> None:  # Django sends it on the request's own thread
        threads.append(threading.get_ident())

    request_started.connect(note_thread)
    try:
        for _ in range(3):
            assert get(asgi.application, "/api/health/") == 200
    finally:
        request_started.disconnect(note_thread)

    assert len(threads) == 3
    assert len(set(threads)) == 1


def test_requests_at_the_same_time_get_threads_of_their_own(asgi):
    first, second = asgi.RequestThread(), asgi.RequestThread()
    threads = {
        first.submit(threading.get_ident).result(),
        second.submit(threading.get_ident).result(),
    }
    first.release()
    second.release()
    third = asgi.RequestThread()

    assert len(threads) == 2
    assert third.submit(threading.get_ident).result() in threads
    third.release()


# Tracing under ASGI: the instrumentation's middleware without the thread hop Django adds for
# its synchronous process_view (chassis/tracing_middleware.py).


@pytest.fixture
def finished_spans():
    with spans_in_memory() as memory:
        yield memory


@pytest.fixture
def count_hops(monkeypatch):
    """count_hops(application, path) -> the times one request went from the event loop to
    a thread and back (asgiref's SyncToAsync, which Django uses for every such trip)."""
    hops = 0
    original = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        nonlocal hops
        hops += 1
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)

    def count(application, path: str) -> int:
        nonlocal hops
        get(application, path)  # the first request loads what it needs
        hops = 0
        assert get(application, path) == 200
        return hops

    return count


def traced(instrumentor_class):
    """Django's ASGI application with `instrumentor_class`'s middleware first, as
    telemetry.setup() leaves it, and the instrumentor to undo that."""
    instrumentor = instrumentor_class()
    instrumentor.instrument(response_hook=telemetry._add_trace_id_header)
    return get_asgi_application(), instrumentor


@pytest.mark.django_db
def test_tracing_a_request_adds_no_thread_hop(count_hops, finished_spans):
    untraced = count_hops(get_asgi_application(), "/api/health/")
    application, instrumentor = traced(AsgiDjangoInstrumentor)
    try:
        assert count_hops(application, "/api/health/") == untraced
    finally:
        instrumentor.uninstrument()

    span = [span for span in finished_spans.get_finished_spans() if span.kind.name == "SERVER"][-1]
    assert span.name == "GET api/health/"
    assert span.attributes["http.route"] == "api/health/"  # what process_view adds


@pytest.mark.django_db
def test_the_instrumentations_own_middleware_costs_a_hop(count_hops, finished_spans):
    """Why chassis/tracing_middleware.py exists. When this fails, the instrumentation has
    become asynchronous itself: use DjangoInstrumentor in telemetry.setup() and delete it."""
    untraced = count_hops(get_asgi_application(), "/api/health/")
    application, instrumentor = traced(DjangoInstrumentor)
    try:
        assert count_hops(application, "/api/health/") == untraced + 1
    finally:
        instrumentor.uninstrument()
