"""A TCP proxy between a real-mode stage's processes and its RabbitMQ: how `make fault
FAULT="broker 30s"` takes the broker away from that stage alone.

The machine's RabbitMQ is shared: other stages, test runs, other people's work use it, so
the fault must not stop it, and cannot count on rights over it either (the management
plugin, `rabbitmqctl`, a vhost of one's own are not there on every machine, nor ours to
change). What belongs to the run is the path to it. So shopctl starts a real-mode stage
with BROKER_URL pointing here, 127.0.0.1:SHOP_PORT+39, and forwards every connection to the
real broker, byte for byte: the stage cannot tell the difference, nobody else goes through
it. For a fault, `make fault` writes `<SHOP_VAR_DIR>/faults/broker.json`
(`{"until": <unix time>}`); within a tenth of a second the proxy stops listening (a new
connection is refused) and cuts every connection it carries: to the stage, the broker is
down, with the very errors a stopped RabbitMQ gives. When the time is up it listens again.
RabbitMQ sees clients that went away, and gives their unacknowledged messages to the next
consumer, as it would after a crash. This is how Toxiproxy and a service mesh inject
network faults: between the services, not inside them.

The proxy is a thread of the shopctl process that runs the stage (`RunningStage`): it lives
exactly as long as the run, and the processes supervisord restarts find it there.
"""

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from shopctl import ShopctlError
from shopctl.stages import BROKER_PROXY_OFFSET as PORT_OFFSET

# kombu's names for plain AMQP; amqps:// (TLS) would check the broker's certificate against
# the host name, which a proxy on 127.0.0.1 cannot answer to.
PROXIED_SCHEMES = {"amqp", "pyamqp"}
DEFAULT_AMQP_PORT = 5672
FAULT_FILE = "broker.json"  # in <SHOP_VAR_DIR>/faults/, beside the gRPC services' fault files
STATE_FILE = "broker-proxy.json"  # in <SHOP_VAR_DIR>/run/: what the proxy is doing now
CHECK_SECONDS = 0.1  # how often it reads the fault file
CONNECT_TIMEOUT = 10.0
CHUNK = 64 * 1024


def proxied_url(broker_url: str, port: int) -> str | None:
    """BROKER_URL with its host and port replaced by the proxy's, or None when the proxy
    cannot stand in for it (TLS, several brokers, not AMQP)."""
    parts = urlsplit(broker_url)
    if parts.scheme not in PROXIED_SCHEMES or ";" in broker_url or not parts.hostname:
        return None
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return parts._replace(netloc=netloc).geturl()


def upstream_of(broker_url: str) -> tuple[str, int]:
    parts = urlsplit(broker_url)
    return parts.hostname, parts.port or DEFAULT_AMQP_PORT


class BrokerProxy:
    """Forwards 127.0.0.1:port to the broker; cuts everything while the fault file says so.

    proxy = BrokerProxy(port, ("127.0.0.1", 5672), var_dir, say=print)
    proxy.start()      # listening when it returns (or ShopctlError: port taken)
    ...
    proxy.stop()       # every connection closed, the thread ended
    """

    def __init__(
        self,
        port: int,
        upstream: tuple[str, int],
        var_dir: Path,
        say: Callable[[str], None],
    ):
        self.port = port
        self.upstream = upstream
        self.fault_file = var_dir / "faults" / FAULT_FILE
        self.state_file = var_dir / "run" / STATE_FILE
        self._say = say
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="broker-proxy", daemon=True)
        self._listener: socket.socket | None = None
        self._server: asyncio.Server | None = None  # None while a fault lasts
        self._stopped = asyncio.Event()
        # Each connection carried: (the stage process's side, the broker's side).
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._away_until: float | None = None
        self._cut = 0

    def start(self) -> None:
        # Bound here, in the caller's thread: a port that is taken is the caller's error, and
        # the stage's processes find the proxy listening from their first connection.
        try:
            self._listener = self._listen()
        except OSError as error:
            raise ShopctlError(
                f"port {self.port} (SHOP_PORT + {PORT_OFFSET}, shopctl's proxy to the broker "
                f"in real mode) is taken: {error}. `ss -ltnp 'sport = :{self.port}'` names "
                "the program; or start the stage with SHOP_PORT=<another port>."
            ) from None
        self.fault_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self._write_state()
        self._thread.start()

    def _listen(self) -> socket.socket:
        listener = socket.socket()
        # SO_REUSEADDR: listening again after a fault, while the cut connections are in
        # TIME_WAIT, works.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", self.port))
        except OSError:
            listener.close()
            raise
        listener.listen(128)
        listener.setblocking(False)
        return listener

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(timeout=5)
        elif self._listener:
            self._listener.close()
        self.state_file.unlink(missing_ok=True)

    # --- in the proxy's thread -----------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._carry, sock=self._listener)
        watcher = asyncio.create_task(self._watch_fault_file())
        await self._stopped.wait()
        watcher.cancel()
        if self._server:
            self._server.close()
        self._cut_all()
        await asyncio.sleep(0)  # let the connections' tasks see their ends

    async def _carry(self, stage_reader, stage_writer) -> None:
        """One connection of a stage process: to the broker and back, until either side
        closes it or a fault cuts it."""
        try:
            broker_reader, broker_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), CONNECT_TIMEOUT
            )
        except OSError:  # TimeoutError is one
            stage_writer.transport.abort()  # as if the broker itself were not there
            return
        if self._away_until is not None:  # a fault began while it was connecting
            for writer in (stage_writer, broker_writer):
                writer.transport.abort()
            return
        pair = (stage_writer, broker_writer)
        self._pairs.add(pair)
        try:
            directions = [
                asyncio.create_task(_pipe(stage_reader, broker_writer)),
                asyncio.create_task(_pipe(broker_reader, stage_writer)),
            ]
            # One side closing ends the connection: AMQP has no use for a half-open one.
            await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
            for direction in directions:
                direction.cancel()
        finally:
            self._pairs.discard(pair)
            for writer in pair:
                writer.transport.abort()

    async def _watch_fault_file(self) -> None:
        while True:
            until = self._requested_until()
            if until is not None and self._away_until is None:
                self._server.close()  # stops listening; the connections it made go on
                self._server = None
                count = self._cut_all()
                self._cut += count
                self._say(
                    "shopctl: broker proxy: the broker is away until "
                    f"{time.strftime('%H:%M:%S', time.localtime(until))}: cut {count} "
                    "connection(s) of the stage, refusing new ones"
                )
            elif until is None and self._away_until is not None:
                try:
                    self._server = await asyncio.start_server(self._carry, sock=self._listen())
                except OSError as error:  # taken meanwhile: say so, try again
                    self._say(f"shopctl: broker proxy: cannot listen again ({error}), retrying")
                    await asyncio.sleep(1)
                    continue
                self._say("shopctl: broker proxy: the broker is back, listening again")
            if until != self._away_until:
                self._away_until = until
                self._write_state()
            await asyncio.sleep(CHECK_SECONDS)

    def _requested_until(self) -> float | None:
        """The end of the fault the fault file asks for, None if none is in force."""
        try:
            until = float(json.loads(self.fault_file.read_text())["until"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no file (or one being replaced: read again in 0.1 s)
        return until if until > time.time() else None

    def _cut_all(self) -> int:
        pairs = list(self._pairs)
        for pair in pairs:
            for writer in pair:
                writer.transport.abort()
        return len(pairs)

    def _write_state(self) -> None:
        """What the proxy does now, for `make fault` (which waits to see its fault taken)."""
        state = {
            "port": self.port,
            "upstream": f"{self.upstream[0]}:{self.upstream[1]}",
            "away_until": self._away_until,
            "connections_cut": self._cut,
        }
        partial = self.state_file.with_suffix(".partial")
        partial.write_text(json.dumps(state))
        partial.replace(self.state_file)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()


def read_state(var_dir: Path) -> dict | None:
    """The running proxy's state file, None if this run has no proxy."""
    try:
        return json.loads((var_dir / "run" / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
