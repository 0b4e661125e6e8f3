"""ASGI entry point: gunicorn's asgi worker serves `gateway.asgi:application` (the
Procfile's `gateway`). An asyncio server reads each request, body included, before a thread
runs the view: a client that trickles its bytes costs a socket, not one of the few workers
(chapter 4, "Slow clients").

gunicorn imports this in each worker after forking it, so each worker starts its own tracing
(the span exporter's thread would not survive a fork)."""

import os
from concurrent.futures import Executor, Future, ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from chassis import telemetry
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
telemetry.setup("gateway")  # before Django loads its middleware: tracing adds its own

# Threads kept for the next requests once a burst is over: as many as a worker usually runs
# at once (a larger burst starts more, and they end when it is over).
IDLE_THREADS = 4


class RequestThread(Executor):
    """The thread that runs one request's synchronous code (middleware, view, queries).

    Django runs it in a thread of its own, one per request, and by default a new one each
    time: every request started a thread and another to join it, and one that read the
    gateway's database (a login, a token) opened a connection and dropped it. Here each
    request gets a thread an earlier request used, with the connection it kept
    (CONN_MAX_AGE), taken when the request first needs one, so a client still sending its
    body holds none. Stage 01 has the same (measured there: its product list costs a third
    less CPU with it). All calls come from the event loop's thread, so the list of idle
    threads needs no lock.
    """

    idle: list[ThreadPoolExecutor] = []

    def __init__(self) -> None:
        self.thread: ThreadPoolExecutor | None = None

    def submit(self, fn, /, *args, **kwargs) -> Future:
        if self.thread is None:
            self.thread = self.idle.pop() if self.idle else ThreadPoolExecutor(max_workers=1)
        return self.thread.submit(fn, *args, **kwargs)

    def release(self) -> None:
        if self.thread is None:
            return
        if len(self.idle) < IDLE_THREADS:
            self.idle.append(self.thread)
        else:
            self.thread.shutdown(wait=False)
        self.thread = None


django_application = get_asgi_application()


async def application(scope, receive, send) -> None:
    thread = RequestThread()
    try:
        # An outer context with an executor wins over the one Django opens per request.
        async with ThreadSensitiveContext(executor=thread):
            await django_application(scope, receive, send)
    finally:
        thread.release()
