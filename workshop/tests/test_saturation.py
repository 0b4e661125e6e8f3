"""The saturation client and report: it reads whole answers on a kept-alive connection,
reconnects when the server closes, and a ratio meets its goal only when nothing failed."""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from shopctl.saturation import AddedLatency, Connection, Rate, Ratio, markdown

ANSWERS = {
    "/length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "/close": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    "/chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
    ),
    "/missing": b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
}


@contextmanager
def tiny_server() -> Iterator[tuple[str, list[int]]]:
    """An HTTP/1.1 server that answers ANSWERS; yields its URL and the connections it took."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def serve(connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as reader:
            while request_line := reader.readline():
                while reader.readline() not in (b"\r\n", b""):
                    pass
                path = request_line.split()[1].decode()
                connection.sendall(ANSWERS[path])
                if path == "/close":
                    return

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        listener.close()


def test_a_kept_alive_connection_serves_every_request():
    with tiny_server() as (url, accepted):
        connection = Connection(f"{url}/length")
        statuses = [connection.get() for _ in range(5)]
        connection.close()

    assert statuses == [200] * 5
    assert len(accepted) == 1


def test_a_connection_the_server_closes_is_opened_again():
    with tiny_server() as (url, accepted):
        connection = Connection(f"{url}/close")
        statuses = [connection.get() for _ in range(3)]
        connection.close()

    assert statuses == [200] * 3
    assert len(accepted) == 3


def test_a_chunked_answer_is_read_to_its_end():
    with tiny_server() as (url, accepted):
        connection = Connection(f"{url}/chunked")
        statuses = [connection.get() for _ in range(3)]  # a misread body would break the next
        connection.close()

    assert statuses == [200] * 3
    assert len(accepted) == 1


def test_a_status_other_than_200_is_returned_for_the_caller_to_count():
    with tiny_server() as (url, _):
        connection = Connection(f"{url}/missing")
        assert connection.get() == 404
        connection.close()


def test_a_ratio_meets_its_goal_only_without_failures():
    floor = Rate(requests_per_second=1000, failed=0, client_cpu=0.1, server_cpu_ms=1.0)

    fast = Ratio("04: list", "01", floor, Rate(700, 0, 0.1, 1.25), goal=0.6)
    slow = Ratio("04: list", "01", floor, Rate(500, 0, 0.1, 2.0), goal=0.6)
    failing = Ratio("04: list", "01", floor, Rate(700, 3, 0.1, 1.25), goal=0.6)

    assert (fast.met, slow.met, failing.met) == (True, False, False)
    assert (round(fast.ratio, 2), fast.cpu_ratio) == (0.7, 0.8)


def test_the_report_shows_each_ratio_against_its_goal():
    floor = Rate(requests_per_second=2000, failed=0, client_cpu=0.25, server_cpu_ms=0.5)
    measured = Rate(1500, 0, 0.2, server_cpu_ms=1.0)
    rows = [Ratio("03: /api/health/ through the proxy", "direct", floor, measured, 0.8)]
    latencies = [AddedLatency("03: /api/health/, idle", 1.0, 1.75, 0.5)]

    report = markdown(rows, latencies)

    assert (
        "| 03: /api/health/ through the proxy | direct | 2000 | 1500 | 0.75 | 0.50 | 1.00 | 0.50 "
        "| ≥ 0.8 | NO | 0 | 0.25 / 0.20 |" in report
    )
    assert "| 03: /api/health/, idle | 1.00 | 1.75 | 0.75 | ≤ 0.5 | NO |" in report
