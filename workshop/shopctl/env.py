"""The environment a stage runs in (interface.md), and the real-mode PostgreSQL databases."""

import contextlib
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from shopctl import ShopctlError
from shopctl.stages import REPO_ROOT, Stage

DEFAULT_PORT = 8000
# SHOPCTL_VAR_DIR moves it (the tool's own tests keep their runs in a temporary folder).
VAR_DIR = Path(os.environ.get("SHOPCTL_VAR_DIR") or REPO_ROOT / "var")
# sys.prefix, not the resolved sys.executable: .venv/bin/python is a symlink to the base
# interpreter, and resolving it would lose the venv.
VENV_BIN = Path(sys.prefix) / "bin"
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "postgis"}  # what dj-database-url reads


def tool_environment() -> dict[str, str]:
    """What every command the tool starts gets: the caller's environment plus the course's."""
    env = dict(os.environ)
    # An empty DATABASE_URL= means "embedded", the same as no variable at all.
    for name in ("DATABASE_URL", "BROKER_URL"):
        if not env.get(name):
            env.pop(name, None)
    env.setdefault("SHOP_STAFF_USER", "staff")
    env.setdefault("SHOP_STAFF_PASSWORD", "staff")
    # Absolute and alone: the Makefile's relative PYTHONPATH=workshop would point elsewhere
    # from a stage folder. proto/_generated holds the gRPC code of proto/ (`shop.catalog.v1`),
    # which shopctl regenerates before every command.
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT / "workshop"), str(REPO_ROOT / "proto" / "_generated")]
    )
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    # Python buffers its output in a pipe; unbuffered, log lines show up when they happen.
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stage_environment(
    *, port: int, var_dir: Path, database_url: str | None = None
) -> dict[str, str]:
    """The environment of one stage's commands; database_url replaces DATABASE_URL if given."""
    env = tool_environment()
    env["SHOP_PORT"] = str(port)
    env["SHOP_VAR_DIR"] = str(var_dir)
    if database_url:
        env["DATABASE_URL"] = database_url
    var_dir.mkdir(parents=True, exist_ok=True)
    return env


def run_environment(stage: Stage) -> dict[str, str]:
    """For `run`: SHOP_PORT or 8000, data kept in SHOP_VAR_DIR or var/<stage>/, DATABASE_URL
    as it is."""
    port = int(os.environ.get("SHOP_PORT") or DEFAULT_PORT)
    var_dir = Path(os.environ.get("SHOP_VAR_DIR") or VAR_DIR / stage.name)
    return stage_environment(port=port, var_dir=var_dir)


def isolated_environment(*, port: int, var_dir: Path, database: str) -> dict[str, str]:
    """A throw-away instance for test and load runs: empty var_dir, fresh database if real."""
    shutil.rmtree(var_dir, ignore_errors=True)
    database_url = os.environ.get("DATABASE_URL")
    if database_url:
        database_url = recreate_database(database_url, database)
    env = stage_environment(port=port, var_dir=var_dir, database_url=database_url)
    # Queues and exchanges of their own too: a `make run` of the same stage on the same
    # RabbitMQ must not take this instance's messages, nor this one its.
    env["SHOP_BROKER_NAMESPACE"] = database
    return env


def redact(url: str) -> str:
    """The URL with its password replaced by ***, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def mode(env: dict[str, str]) -> str:
    """'real' when DATABASE_URL or BROKER_URL points to a server, else 'embedded'."""
    return "real" if "DATABASE_URL" in env or "BROKER_URL" in env else "embedded"


def describe_mode(env: dict[str, str]) -> list[tuple[str, str]]:
    """(label, value) lines saying where a stage keeps its data and its messages."""
    var_dir = env["SHOP_VAR_DIR"]
    database = env.get("DATABASE_URL")
    broker = env.get("BROKER_URL")
    return [
        ("Mode", mode(env)),
        ("Database", redact(database) if database else f"SQLite, in {var_dir}/"),
        ("Broker", redact(broker) if broker else f"file system, in {var_dir}/"),
    ]


def stage_databases(env: dict[str, str]) -> list[str]:
    """The databases a started stage has made: its SQLite files under its var folder, or on
    PostgreSQL the database DATABASE_URL names and those its services named after it
    (`<name>_catalog`, `<name>_orders`, ...)."""
    database_url = env.get("DATABASE_URL")
    if not database_url or not _is_postgres(database_url):
        return sorted(path.name for path in Path(env["SHOP_VAR_DIR"]).rglob("*.sqlite3"))
    name = _database_name(database_url)
    with _connect_to_server(database_url) as connection:
        return sorted(_databases_of(connection, name))


def _is_postgres(url: str) -> bool:
    return urlsplit(url).scheme.split("+")[0] in POSTGRES_SCHEMES


def _database_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def _databases_of(connection, name: str) -> list[str]:
    """Database `name` and its services' databases (`<name>_<service>`) that exist."""
    services = name.replace("_", r"\_") + r"\_%"  # LIKE: "_" is a wildcard unless escaped
    rows = connection.execute(
        "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s", [name, services]
    ).fetchall()
    return [row[0] for row in rows]


def _connect_to_server(url: str):
    """A connection to the server's `postgres` database: one cannot create or drop the
    database one is connected to, and the shop's own may not exist yet."""
    import psycopg  # only real mode needs it

    parts = urlsplit(url)
    # Keyword arguments rather than the URL itself: the URL's query carries Django options
    # (?pool=true) that libpq would refuse.
    params = {
        "host": parts.hostname,
        "port": parts.port,
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
    }
    params = {key: value for key, value in params.items() if value is not None}
    try:
        return psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **params)
    except psycopg.OperationalError as error:
        raise ShopctlError(f"cannot reach PostgreSQL at {redact(url)}: {error}") from error


def ensure_database(url: str) -> None:
    """Create the database named in DATABASE_URL unless it exists."""
    if not _is_postgres(url):
        return
    import psycopg
    from psycopg import sql

    name = _database_name(url)
    with _connect_to_server(url) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            # Created meanwhile by another run: just as good.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def recreate_database(url: str, name: str) -> str:
    """Drop and create database `name` on DATABASE_URL's server; return its URL.

    The databases of the stage's services go too: a service names its own after the
    monolith's (`<name>_catalog`, from stage 03 on) and creates it when it starts, so every
    part of the stage starts as empty as the monolith.
    """
    if not _is_postgres(url):
        raise ShopctlError(f"DATABASE_URL must point to PostgreSQL, not {redact(url)}")
    from psycopg import sql

    with _connect_to_server(url) as connection:
        for old in {name, *_databases_of(connection, name)}:
            # FORCE ends the sessions still attached, e.g. of an earlier run that was killed.
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(old))
            )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlsplit(url)._replace(path=f"/{name}").geturl()
