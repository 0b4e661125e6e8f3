"""Slow clients against a running stage: can a handful of trickling sockets starve it?

With a stage running (`SHOP_PORT=8000 make run STAGE=04`, any stage, any mode):

    .venv/bin/python workshop/experiments/slow_clients.py                    # 8 + 8 for 10 s
    .venv/bin/python workshop/experiments/slow_clients.py --slow-bodies 4 --slow-headers 0

While it runs, it holds two kinds of slow connection open against the stage:

- slow bodies: `POST /api/auth/token/` (a view that reads its body) announcing a 1,000-byte
  body, then one byte every --interval seconds (the whole body would take over half an hour);
- slow headers: `GET /api/products/` sent one header line every --interval seconds.

A connection the server closes is opened again, as an attacker would, so the pressure stays
the same for the whole run. Meanwhile a normal client reads `GET /api/products/1/` and
`GET /api/inventory/1/` in turn, again and again, each time on a new connection (at stage 03
the first is the catalog service's, the second the monolith's), and the run passes when every
one of those reads got its 200 within --deadline seconds. It prints one line per normal
request and a summary; exit code 0 when it passed, 1 when not.

Bounded: it stops after --duration seconds, opens at most --slow-bodies + --slow-headers
connections at a time, and talks to loopback only. The contract suite runs it for a few
seconds against every stage (workshop/contract/test_slow_clients.py).
"""

import argparse
import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
BODY_BYTES = 1_000  # what each slow body announces
# What the normal client reads, in turn: at stage 03 the catalog service answers the first
# and the monolith the second (the slow bodies go to the monolith).
NORMAL_PATHS = ("/api/products/1/", "/api/inventory/1/")


@dataclass
class NormalRequest:
    path: str
    started: float  # seconds since the run began
    seconds: float
    status: int | None  # None: no complete answer (timed out, refused, cut)
    error: str = ""


@dataclass
class Result:
    deadline: float
    requests: list[NormalRequest] = field(default_factory=list)
    slow_opened: int = 0  # slow connections opened, reopenings included
    slow_closed_by_server: int = 0
    slow_answers: dict[str, int] = field(default_factory=dict)  # first status line -> count

    @property
    def late_or_failed(self) -> list[NormalRequest]:
        return [r for r in self.requests if r.status != 200 or r.seconds > self.deadline]

    @property
    def passed(self) -> bool:
        return bool(self.requests) and not self.late_or_failed

    def summary(self) -> str:
        times = sorted(r.seconds for r in self.requests)
        worst = f"{times[-1]:.2f} s" if times else "-"
        median = f"{times[len(times) // 2]:.3f} s" if times else "-"
        answers = ", ".join(f"{n}× {line!r}" for line, n in sorted(self.slow_answers.items()))
        return (
            f"normal requests: {len(self.requests)}, late or failed (> {self.deadline:g} s or "
            f"not 200): {len(self.late_or_failed)}, median {median}, worst {worst}\n"
            f"slow connections opened: {self.slow_opened}, closed by the server: "
            f"{self.slow_closed_by_server}; the server's answers to them: {answers or 'none'}"
        )


async def slow_client(
    host: str, port: int, kind: str, interval: float, stop: asyncio.Event, result: Result
) -> None:
    """One slow connection of `kind` ("body" or "headers"), reopened whenever the server
    closes it, until `stop` is set."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3)
        except (OSError, TimeoutError):
            await _sleep_unless(stop, interval)
            continue
        result.slow_opened += 1
        if kind == "body":
            writer.write(
                f"POST /api/auth/token/ HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {BODY_BYTES}\r\n\r\n".encode()
            )
            pieces = (b" " for _ in range(BODY_BYTES))
        else:
            writer.write(b"GET /api/products/ HTTP/1.1\r\n")
            pieces = (f"X-Slow-{n}: {n}\r\n".encode() for n in range(10_000))
        answer = asyncio.ensure_future(reader.readline())  # done when the server answers/closes
        try:
            for piece in pieces:
                await writer.drain()
                stopped = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait(
                    {answer, stopped}, timeout=interval, return_when=asyncio.FIRST_COMPLETED
                )
                stopped.cancel()
                if answer in done or stop.is_set():
                    break
                writer.write(piece)
        except OSError:
            pass  # reset by the server: counted below, then opened again
        if answer.done() and not stop.is_set():
            result.slow_closed_by_server += 1
            line = b"" if answer.exception() else answer.result()
            key = line.decode(errors="replace").strip()[:40] or "(closed without an answer)"
            result.slow_answers[key] = result.slow_answers.get(key, 0) + 1
        answer.cancel()
        writer.close()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def normal_client(
    host: str, port: int, started: float, stop: asyncio.Event, result: Result, verbose: bool
) -> None:
    """GET each of NORMAL_PATHS in turn, each on a new connection, until `stop`."""
    # Give up on a request well after the deadline, so the summary says how late it was.
    give_up = result.deadline * 3
    number = 0
    while not stop.is_set():
        path = NORMAL_PATHS[number % len(NORMAL_PATHS)]
        number += 1
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
        ).encode()
        begun = time.monotonic()
        status, error = None, ""
        try:
            status = await asyncio.wait_for(_one_request(host, port, request), give_up)
        except TimeoutError:
            error = f"no answer within {give_up:g} s"
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
        seconds = time.monotonic() - begun
        outcome = NormalRequest(path, round(begun - started, 2), seconds, status, error)
        result.requests.append(outcome)
        if verbose:
            late = " LATE" if seconds > result.deadline or status != 200 else ""
            print(
                f"  t={outcome.started:5.1f} s  {path:<18} {status or error}  {seconds:.3f} s{late}"
            )
        await _sleep_unless(stop, 0.2)


async def _one_request(host: str, port: int, request: bytes) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
        await reader.read()  # the whole answer: Connection: close ends it
    finally:
        writer.close()
    parts = status_line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise ConnectionError(f"not an HTTP answer: {status_line[:60]!r}")
    return int(parts[1])


async def probe(
    base_url: str,
    *,
    slow_bodies: int = 8,
    slow_headers: int = 8,
    interval: float = 2.0,
    duration: float = 10.0,
    deadline: float = 3.0,
    settle: float = 1.0,
    verbose: bool = False,
) -> Result:
    """Hold the slow connections open for `duration` seconds while a normal client reads.

    The normal client starts after `settle` seconds, once the slow connections are in place.
    """
    parts = urlsplit(base_url)
    host, port = parts.hostname or "", parts.port or 80
    if host not in LOOPBACK:
        raise ValueError(f"{host!r} is not this machine: this probe only talks to loopback")
    result = Result(deadline=deadline)
    stop = asyncio.Event()
    started = time.monotonic()
    slow = [
        asyncio.create_task(slow_client(host, port, kind, interval, stop, result))
        for kind, count in (("body", slow_bodies), ("headers", slow_headers))
        for _ in range(count)
    ]
    await asyncio.sleep(settle)
    normal = asyncio.create_task(normal_client(host, port, started, stop, result, verbose))
    await asyncio.sleep(max(duration - settle, 0))
    stop.set()
    await asyncio.wait_for(asyncio.gather(normal, *slow, return_exceptions=True), deadline * 3 + 5)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_url = f"http://127.0.0.1:{os.environ.get('SHOP_PORT') or 8000}"
    parser.add_argument("--url", default=default_url, help=f"the stage (default {default_url})")
    parser.add_argument("--slow-bodies", type=int, default=8)
    parser.add_argument("--slow-headers", type=int, default=8)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between bytes/lines")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds the run lasts")
    parser.add_argument("--deadline", type=float, default=3.0, help="seconds a normal GET may take")
    arguments = parser.parse_args()
    slow_connections = arguments.slow_bodies + arguments.slow_headers
    if not 0 < arguments.duration <= 300 or not 0 <= slow_connections <= 200:
        parser.error("keep it bounded: --duration up to 300 s, at most 200 slow connections")
    print(
        f"{arguments.slow_bodies} slow bodies + {arguments.slow_headers} slow headers "
        f"(a byte or a line every {arguments.interval:g} s) against {arguments.url} for "
        f"{arguments.duration:g} s; GET {' and '.join(NORMAL_PATHS)} must answer 200 within "
        f"{arguments.deadline:g} s"
    )
    try:
        result = asyncio.run(
            probe(
                arguments.url,
                slow_bodies=arguments.slow_bodies,
                slow_headers=arguments.slow_headers,
                interval=arguments.interval,
                duration=arguments.duration,
                deadline=arguments.deadline,
                verbose=True,
            )
        )
    except ValueError as error:
        parser.error(str(error))
    print(result.summary())
    print("PASSED" if result.passed else "FAILED: a normal client was starved")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
