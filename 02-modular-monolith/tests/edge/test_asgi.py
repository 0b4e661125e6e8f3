"""The ASGI entry point (config/asgi.py): a request's synchronous code runs on a thread that
an earlier request used, so the database connection that thread opened is used again."""

import asyncio
import importlib
import threading

import pytest
from django.db import connections
from django.db.backends.signals import connection_created


@pytest.fixture
def asgi(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")  # importing the module starts tracing
    module = importlib.import_module("config.asgi")
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


@pytest.mark.django_db(transaction=True)
def test_requests_one_after_another_open_one_database_connection(asgi):
    opened = []

    def count(sender, connection, **kwargs) -> None:
        opened.append(connection)

    connection_created.connect(count)
    try:
        for _ in range(3):
            assert get(asgi.application, "/api/products/") == 200
    finally:
        connection_created.disconnect(count)

    assert len(opened) <= 1  # none when an idle thread kept one from an earlier test


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
