"""The proxy's settings, read once from the environment (the same SHOP_* names as the monolith)."""

import os
from dataclasses import dataclass
from pathlib import Path

STAGE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 8000
# The monolith and the catalog service live on fixed offsets from the public port, so that
# `SHOP_PORT=8003 make run STAGE=03` (or a test run on a random port) moves all three together.
MONOLITH_PORT_OFFSET = 10
CATALOG_PORT_OFFSET = 20


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    upstreams: dict[str, str]  # name ("monolith", "catalog") -> base URL, no trailing slash
    routes_file: Path
    timeout: float  # seconds an upstream may take to connect, or between two reads
    log_level: str = "INFO"
    # Seconds a client may take to send its whole request body: the proxy reads it all before
    # it forwards, so a client that trickles its bytes holds nothing of the monolith's.
    body_timeout: float = 10.0


def from_environment() -> Settings:
    """Settings from SHOP_HOST, SHOP_PORT, SHOP_MONOLITH_URL, SHOP_CATALOG_URL,
    SHOP_PROXY_ROUTES, SHOP_PROXY_TIMEOUT, SHOP_PROXY_BODY_TIMEOUT and SHOP_LOG_LEVEL."""
    environ = os.environ
    host = environ.get("SHOP_HOST") or "127.0.0.1"
    port = int(environ.get("SHOP_PORT") or DEFAULT_PORT)
    # Containers reach the monolith by service name (http://web-03:8010): compose sets the URL.
    monolith = environ.get("SHOP_MONOLITH_URL") or f"http://127.0.0.1:{port + MONOLITH_PORT_OFFSET}"
    catalog = environ.get("SHOP_CATALOG_URL") or f"http://127.0.0.1:{port + CATALOG_PORT_OFFSET}"
    return Settings(
        host=host,
        port=port,
        upstreams={"monolith": monolith.rstrip("/"), "catalog": catalog.rstrip("/")},
        routes_file=Path(environ.get("SHOP_PROXY_ROUTES") or STAGE_DIR / "routes.toml"),
        timeout=float(environ.get("SHOP_PROXY_TIMEOUT") or 10),
        log_level=environ.get("SHOP_LOG_LEVEL") or "INFO",
        body_timeout=float(environ.get("SHOP_PROXY_BODY_TIMEOUT") or 10),
    )
