"""`python -m <service> ensure_database`: make the service's own database exist.

The first step of each service's release (then `migrate`). On
PostgreSQL the service's database is its own, beside the monolith's, and nobody else creates
it: this does, if it is missing, as Django's test runner creates a test database (through a
connection to the server's maintenance database). SQLite creates its file on first use; only
the folder must exist.
"""

from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import ProgrammingError, connections

DUPLICATE_DATABASE = "42P04"  # PostgreSQL's SQLSTATE: another process created it first


class Command(BaseCommand):
    help = "Create this service's database if it does not exist (PostgreSQL)."
    requires_system_checks = []  # the checks may need the very database this creates

    def add_arguments(self, parser) -> None:
        parser.add_argument("--database", default="default", help="the alias (default: default)")

    def handle(self, *args, database: str, **options) -> None:
        connection = connections[database]
        name = connection.settings_dict["NAME"]
        if connection.vendor == "sqlite":
            folder = Path(name).resolve().parent
            folder.mkdir(parents=True, exist_ok=True)
            self.stdout.write(f"ensure_database: SQLite, {name} (folder {folder} is there)")
            return
        with connection._nodb_cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone():
                self.stdout.write(f"ensure_database: database {name} exists already")
                return
            try:
                cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")
            except ProgrammingError as error:
                if getattr(error.__cause__, "sqlstate", None) != DUPLICATE_DATABASE:
                    raise
                self.stdout.write(f"ensure_database: database {name} was just created by another")
                return
        self.stdout.write(f"ensure_database: created database {name}")
