"""The ASGI entry point (gateway/asgi.py): a request's synchronous code runs on a thread that
an earlier request used, rather than on a new one each time."""

import asyncio
import importlib
import threading

import pytest
from django.core.signals import request_started
from django.db import connections


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
