"""One service's Django settings, read from the environment the same way in every service.

A service's settings.py is a few lines:

    from chassis.settings import service_settings
    globals().update(service_settings("inventory", apps=["inventory"]))

Two run modes, as at every stage:

- embedded (no DATABASE_URL): each service its own SQLite file, $SHOP_VAR_DIR/<service>.sqlite3,
  and kombu's file-system broker under $SHOP_VAR_DIR/broker/;
- real: DATABASE_URL names a PostgreSQL server and a base name (…/shop_04): each service
  gets its own database beside it, <base>_<service> (shop_04_inventory), which its release
  step creates (`ensure_database`); BROKER_URL names RabbitMQ. <SERVICE>_DATABASE_URL
  (INVENTORY_DATABASE_URL, …) overrides one service's database.

SHOP_ENV is development (the default) or production. Production refuses to start with what
this repository publishes: the development secret key, a guessable key, or the development
host names; and DEBUG stays off.

This module imports nothing of Django's but an exception: settings modules load it while
Django starts.
"""

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

STAGE_DIR = Path(__file__).resolve().parent.parent
STAGE = STAGE_DIR.name  # "04-services"
STAGE_NUMBER = STAGE.split("-")[0]
DEFAULT_PORT = 8000
# Each service's gRPC port, as an offset from SHOP_PORT (the gateway's). The Procfile says
# the same: `$((${SHOP_PORT:-8000} + 22))` for inventory.
GRPC_PORT_OFFSETS = {"catalog": 21, "inventory": 22, "orders": 23, "payments": 24}
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-change-me"  # published: development only
DEVELOPMENT_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def shop_port() -> int:
    return int(os.environ.get("SHOP_PORT") or DEFAULT_PORT)


def var_dir() -> Path:
    return Path(os.environ.get("SHOP_VAR_DIR", STAGE_DIR.parent / "var" / STAGE)).resolve()


def grpc_target(service: str) -> str:
    """Where a service's gRPC server is: SHOP_<SERVICE>_GRPC_TARGET, else 127.0.0.1:<port>."""
    variable = f"SHOP_{service.upper()}_GRPC_TARGET"
    return os.environ.get(variable) or f"127.0.0.1:{shop_port() + GRPC_PORT_OFFSETS[service]}"


def grpc_address(service: str) -> str:
    """Where a service's gRPC server listens: SHOP_HOST and its port."""
    host = os.environ.get("SHOP_HOST", "127.0.0.1")
    return f"{host}:{shop_port() + GRPC_PORT_OFFSETS[service]}"


def shop_env() -> str:
    value = os.environ.get("SHOP_ENV", "development")
    if value not in {"development", "production"}:
        raise ImproperlyConfigured(f"SHOP_ENV must be development or production, not {value!r}")
    return value


def grpc_tls_dir() -> str:
    """The folder of the certificates for mutual TLS between the services (chassis.certificates),
    or "" for plaintext gRPC. SHOP_GRPC_TLS=on|off says which; without it, on in real mode
    (DATABASE_URL set, as docker-compose and CI run) and off in embedded mode. The folder is
    SHOP_GRPC_TLS_DIR, else $SHOP_VAR_DIR/certs; missing certificates are made there."""
    default = "on" if os.environ.get("DATABASE_URL") else "off"
    if os.environ.get("SHOP_GRPC_TLS", default).strip().lower() not in {"1", "true", "yes", "on"}:
        return ""
    return os.environ.get("SHOP_GRPC_TLS_DIR") or str(var_dir() / "certs")


def secret_key(shop_env: str) -> str:
    """SHOP_SECRET_KEY; the published development key, or none, only in development."""
    key = os.environ.get("SHOP_SECRET_KEY") or DEVELOPMENT_SECRET_KEY
    if shop_env == "production" and (key == DEVELOPMENT_SECRET_KEY or len(key) < 32):
        raise ImproperlyConfigured(
            "SHOP_ENV=production needs SHOP_SECRET_KEY: a secret of 32 characters or more, not "
            "the published development key (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))')"
        )
    return key


def allowed_hosts(shop_env: str) -> list[str]:
    """SHOP_ALLOWED_HOSTS, comma-separated; in development, the local names by default."""
    hosts = [host for host in os.environ.get("SHOP_ALLOWED_HOSTS", "").split(",") if host]
    if shop_env == "production" and not hosts:
        raise ImproperlyConfigured(
            "SHOP_ENV=production needs SHOP_ALLOWED_HOSTS: the host names clients use, "
            "comma-separated (e.g. shop.example.com)"
        )
    return hosts or DEVELOPMENT_HOSTS


def debug(shop_env: str) -> bool:
    """SHOP_DEBUG, off by default: the API must never show a stack trace."""
    on = env_bool("SHOP_DEBUG", False)
    if shop_env == "production" and on:
        raise ImproperlyConfigured("SHOP_DEBUG must be off when SHOP_ENV=production")
    return on


def sqlite_options() -> dict[str, Any]:
    """A SQLite database's OPTIONS: how one file serves several processes and threads."""
    return {
        # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock when a
        # transaction starts, so two writers queue up instead of failing with "database is
        # locked" when both try to upgrade a read lock. SQLite has no SELECT ... FOR UPDATE.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }


def database_url(service: str) -> str:
    """The service's own database (see the module's docstring)."""
    own = os.environ.get(f"{service.upper()}_DATABASE_URL")
    if own:
        return own
    base = os.environ.get("DATABASE_URL")
    if base:
        parts = urlsplit(base)
        return parts._replace(path=f"{parts.path}_{service}").geturl()
    return f"sqlite:///{var_dir() / f'{service}.sqlite3'}"


def database(service: str) -> dict[str, Any]:
    """DATABASES["default"] of a service. Its test database: a SQLite file (gRPC tests' server
    threads share it), or test_<name>_<stage> on PostgreSQL."""
    settings = dj_database_url.parse(
        database_url(service), conn_max_age=60, conn_health_checks=True
    )
    if settings["ENGINE"] == "django.db.backends.sqlite3":
        settings["OPTIONS"] = sqlite_options()
        settings["TEST"] = {"NAME": str(var_dir() / f"test-{service}.sqlite3")}
    else:
        if settings.get("OPTIONS", {}).get("pool"):
            settings["CONN_MAX_AGE"] = 0  # ?pool=true: the pool keeps connections, not Django
        settings["TEST"] = {"NAME": f"test_{settings['NAME']}_{STAGE_NUMBER}"}
    return settings


def broker(namespace_default: str) -> dict[str, Any]:
    """BROKER_URL, its transport options and the names' namespace.

    Embedded: kombu's file-system transport (chassis.file_transport keeps its order and
    writes atomically), in $SHOP_VAR_DIR/broker/ that every process of the stage shares.
    """
    url = os.environ.get("BROKER_URL", "filesystem://")
    options: dict[str, Any] = {"confirm_publish": True}
    if url.startswith("filesystem://"):
        folder = var_dir() / "broker"
        options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            # Exchange bindings live here, in files: how a queue bound by one process is
            # seen by another that publishes.
            "control_folder": str(folder / "control"),
            "store_processed": True,
            "polling_interval": 0.1,
        }
        for name in ("queue", "processed", "control"):
            (folder / name).mkdir(parents=True, exist_ok=True)
    return {
        "BROKER_URL": url,
        "BROKER_TRANSPORT_OPTIONS": options,
        # Stages and test runs may share a broker: every exchange and queue name starts
        # with this, so none of them sees another's events.
        "SHOP_BROKER_NAMESPACE": os.environ.get("SHOP_BROKER_NAMESPACE", namespace_default),
    }


def logging_settings(level: str) -> dict[str, Any]:
    """key=value lines on the console, each carrying the request id and the trace id."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "chassis.request_ids.RequestIdFilter"},
            "trace_id": {"()": "chassis.telemetry.TraceIdFilter"},
        },
        "formatters": {
            "kv": {
                "format": "time=%(asctime)s level=%(levelname)s logger=%(name)s "
                "request_id=%(request_id)s trace_id=%(trace_id)s %(message)s"
            }
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "kv",
                "filters": ["request_id", "trace_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
    }


def retention_days() -> dict[str, int]:
    """How long the outbox keeps published rows, and consumers the ids of handled events.
    A replay from the outbox must find its event id still remembered: the second is longer."""
    outbox = int(os.environ.get("SHOP_OUTBOX_RETENTION_DAYS") or 7)
    processed = int(os.environ.get("SHOP_PROCESSED_EVENT_RETENTION_DAYS") or 30)
    if processed <= outbox:
        raise RuntimeError(
            f"SHOP_PROCESSED_EVENT_RETENTION_DAYS ({processed}) must be longer than "
            f"SHOP_OUTBOX_RETENTION_DAYS ({outbox}): a replayed event would be handled twice"
        )
    return {"SHOP_OUTBOX_RETENTION_DAYS": outbox, "SHOP_PROCESSED_EVENT_RETENTION_DAYS": processed}


def service_settings(
    service: str, *, apps: list[str], grpc_servicers: str | None = None
) -> dict[str, Any]:
    """Everything a service's settings module needs; it may add or override after.

    grpc_servicers: the dotted path of the service's `register(server)` function, which
    `python -m <service> serve_grpc` calls (None for a service with no gRPC server).
    """
    from kombu.transport import TRANSPORT_ALIASES  # kombu, not Django: safe here

    TRANSPORT_ALIASES["filesystem"] = "chassis.file_transport:Transport"
    env = shop_env()  # development (the default) or production: see the module's docstring
    return {
        "STAGE": STAGE,
        "SERVICE": service,
        "VAR_DIR": var_dir(),
        "SHOP_ENV": env,
        "PRODUCTION": env == "production",
        "SECRET_KEY": secret_key(env),
        "ALLOWED_HOSTS": allowed_hosts(env),
        "DEBUG": debug(env),
        "INSTALLED_APPS": ["chassis", *apps],
        "DATABASES": {"default": database(service)},
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "LANGUAGE_CODE": "en",
        "USE_I18N": False,
        "LOGGING": logging_settings(os.environ.get("SHOP_LOG_LEVEL", "INFO")),
        # gRPC: where this service listens, where the others are, how long a call may take.
        "SHOP_GRPC_ADDRESS": grpc_address(service) if service in GRPC_PORT_OFFSETS else "",
        "SHOP_GRPC_SERVICERS": grpc_servicers,
        "SHOP_GRPC_TARGETS": {name: grpc_target(name) for name in GRPC_PORT_OFFSETS},
        # A call made outside any request's budget (the recovery, a command) gets
        # SHOP_GRPC_TIMEOUT; inside one, what is left less the margin (chassis.deadlines).
        "SHOP_GRPC_TIMEOUT": float(os.environ.get("SHOP_GRPC_TIMEOUT") or 2.0),
        "SHOP_GRPC_DEADLINE_MARGIN": float(os.environ.get("SHOP_GRPC_DEADLINE_MARGIN") or 0.1),
        "SHOP_GRPC_WORKERS": int(os.environ.get("SHOP_GRPC_WORKERS") or 10),
        "SHOP_GRPC_TLS_DIR": grpc_tls_dir(),
        # Events: who listens to what (the relay declares these queues before publishing,
        # so an event published before its consumer ever ran waits in its queue).
        "SHOP_EVENT_SUBSCRIPTIONS": {
            "notifications": ["order.confirmed", "order.cancelled"],
            # A cancellation by choreography (orders/choreography.py): each service's own
            # process consumes its queue (`serve_grpc --consume-events`).
            "inventory": ["order.cancellation_requested"],
            "payments": ["order.cancellation_requested"],
            "orders": ["stock.released", "payment.refunded"],
        },
        # The function that handles the events of the service's own queue, if it has one
        # (`serve_grpc --consume-events`): set by the service's settings.
        "SHOP_EVENT_HANDLER": "",
        **retention_days(),
        # A consumer tries an event this many times before it gives up on it and moves it to
        # its dead-letter queue (chassis.consumer; `dead_letters` lists and replays them).
        "SHOP_EVENT_MAX_ATTEMPTS": int(os.environ.get("SHOP_EVENT_MAX_ATTEMPTS") or 5),
        **broker(f"shop-{STAGE}"),
    }
