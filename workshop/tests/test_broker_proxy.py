"""shopctl's broker proxy (real mode's `make fault FAULT="broker …"`), against a small echo
server standing in for RabbitMQ: it forwards, it cuts and refuses while its fault file says
so, and it forwards again after. Runs in either mode, in about a second."""

import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest
from shopctl import ShopctlError
from shopctl.broker_proxy import BrokerProxy, proxied_url, read_state
from shopctl.runner import free_port

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(1024):
            self.request.sendall(data)


@pytest.fixture
def upstream() -> Iterator[tuple[str, int]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(upstream, tmp_path) -> Iterator[BrokerProxy]:
    proxy = BrokerProxy(free_port(), upstream, tmp_path, say=lambda line: None)
    proxy.start()
    yield proxy
    proxy.stop()


def echoed(port: int, data: bytes = b"ping") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
        client.sendall(data)
        return client.recv(1024)


def take_the_broker_away(proxy: BrokerProxy, seconds: float) -> float:
    until = time.time() + seconds
    proxy.fault_file.write_text(json.dumps({"until": until}))
    deadline = time.monotonic() + 2
    while read_state(proxy.state_file.parent.parent)["away_until"] != until:
        assert time.monotonic() < deadline, "the proxy did not take the fault"
        time.sleep(0.02)
    return until


def test_the_proxy_forwards_cuts_and_refuses_during_a_fault_then_forwards_again(proxy):
    assert echoed(proxy.port) == b"ping"
    open_connection = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    open_connection.sendall(b"one")
    assert open_connection.recv(1024) == b"one"

    take_the_broker_away(proxy, 30)

    assert open_connection.recv(1024) == b"", "a connection it carried was not cut"
    open_connection.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    assert read_state(proxy.state_file.parent.parent)["connections_cut"] == 1

    proxy.fault_file.unlink()  # what `make fault` does when the time is up
    deadline = time.monotonic() + 2
    while read_state(proxy.state_file.parent.parent)["away_until"] is not None:
        assert time.monotonic() < deadline, "the proxy did not end the fault"
        time.sleep(0.02)
    assert echoed(proxy.port, b"back") == b"back"


def test_a_fault_ends_by_itself_when_its_time_is_up(proxy):
    take_the_broker_away(proxy, 0.3)
    time.sleep(0.6)
    assert echoed(proxy.port) == b"ping"


def test_a_taken_port_is_a_clear_error(upstream, tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(ShopctlError, match=rf"port {port} \(SHOP_PORT \+ 39"):
            BrokerProxy(port, upstream, tmp_path, say=print).start()


def test_only_a_plain_amqp_url_to_one_broker_goes_through_the_proxy():
    assert (
        proxied_url("amqp://guest:guest@rabbit.example:5672/shop", 18239)
        == "amqp://guest:guest@127.0.0.1:18239/shop"
    )
    assert proxied_url("amqp://127.0.0.1//", 18239) == "amqp://127.0.0.1:18239//"
    assert proxied_url("amqps://guest:guest@rabbit.example//", 18239) is None  # TLS
    assert proxied_url("amqp://a:5672//;amqp://b:5672//", 18239) is None  # failover list
    assert proxied_url("filesystem://", 18239) is None
