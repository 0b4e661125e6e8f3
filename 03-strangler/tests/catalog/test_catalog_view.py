"""The view `catalog_product_v1` (catalog/migrations/0002): what the catalog service's copy
reads instead of the catalog's tables. It answers what the tables hold, it goes away with the
migration's reverse and comes back with it, and the real `copy_catalog` of the catalog service,
run in a process of its own against this test database, copies through it."""

import subprocess
import sys
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from catalog.models import Product
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ..processes import STAGE_DIR, process_environment

VIEW = "catalog_product_v1"
COLUMNS = "id, sku, name, description, category, price_cents, created_at, updated_at"
FIELDS = ("id", "sku", "name", "description", "category__slug", "price_cents")


def view_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {COLUMNS} FROM {VIEW} ORDER BY id")
        return cursor.fetchall()


def has_view() -> bool:
    return VIEW in connection.introspection.table_names(include_views=True)


def migrate_catalog(target: str) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("catalog", target)])


def in_utc(row: tuple) -> tuple:
    """SQLite's raw rows have no time zone on their timestamps (stored in UTC); the ORM's do."""
    return tuple(
        value.replace(tzinfo=UTC) if isinstance(value, datetime) and not value.tzinfo else value
        for value in row
    )


def test_the_view_answers_what_the_catalog_s_tables_hold(make_product):
    for name, category, price_cents in [("Kettle", "kitchen", 1250), ("Atlas", "books", 3999)]:
        make_product(name=name, category=category, price_cents=price_cents)

    tables = Product.objects.order_by("id").values_list(*FIELDS, "created_at", "updated_at")

    assert [in_utc(row) for row in view_rows()] == list(tables)


@pytest.mark.django_db(transaction=True)  # a migration cannot run inside the test's transaction
def test_the_migration_s_reverse_drops_the_view_and_forward_makes_it_again():
    assert has_view()
    try:
        migrate_catalog("0001_initial")  # the rollback: `manage.py migrate catalog 0001`
        assert not has_view()
    finally:
        migrate_catalog("0002_catalog_product_v1")
    assert has_view()


def database_url(settings: dict) -> str:
    """The URL of this test database, for a process of another project to open."""
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    login = quote(settings["USER"] or "") + (
        f":{quote(settings['PASSWORD'])}" if settings["PASSWORD"] else ""
    )
    return f"postgres://{login}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"


@pytest.mark.django_db(transaction=True)  # committed, so that another process sees the rows
def test_the_catalog_service_s_copy_reads_the_view_of_this_database(make_product, tmp_path):
    for price_cents in (100, 200, 300):
        make_product(price_cents=price_cents)
    env = process_environment(
        DATABASE_URL=database_url(connection.settings_dict),
        CATALOG_DATABASE_URL=f"sqlite:///{tmp_path / 'catalog.sqlite3'}",
        SHOP_VAR_DIR=str(tmp_path),
    )

    def catalog_service(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "catalog_service", *args],
            cwd=STAGE_DIR,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    catalog_service("migrate", "--noinput")
    output = catalog_service("copy_catalog")

    assert "copy_catalog: 3 products: 3 inserted, 0 updated, 0 unchanged, 0 kept" in output
    assert "copy_catalog: verify: the service's catalog matches the monolith's" in output
