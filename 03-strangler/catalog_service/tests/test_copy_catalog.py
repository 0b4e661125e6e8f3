"""copy_catalog: the monolith's catalog into the service's database, idempotent and verified.

The "monolith" test database stands in for the monolith's: its catalog tables are made here
with plain DDL shaped as the monolith's migration makes them (that migration belongs to
another Django project), and filled with rows.
"""

import io
import re
import uuid
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from catalog_service import products
from catalog_service.management.commands.copy_catalog import Command as CopyCatalog
from catalog_service.models import Product

from .conftest import make_product

pytestmark = pytest.mark.django_db(databases=["default", "monolith"])

CREATED = datetime(2026, 11, 1, 9, 30, 15, 123456, tzinfo=UTC)


class Monolith:
    """The monolith's catalog tables in the "monolith" test database, and ways to change them."""

    def __init__(self) -> None:
        self.connection = connections["monolith"]
        timestamp = self.connection.data_types["DateTimeField"]
        self.execute(
            "CREATE TABLE catalog_category"
            " (id bigint PRIMARY KEY, slug varchar(50) NOT NULL UNIQUE)"
        )
        self.execute(
            "CREATE TABLE catalog_product (id bigint PRIMARY KEY, sku varchar(64) NOT NULL UNIQUE,"
            " name varchar(200) NOT NULL, description text NOT NULL,"
            " price_cents integer NOT NULL CHECK (price_cents > 0),"
            f" created_at {timestamp} NOT NULL, updated_at {timestamp} NOT NULL,"
            " category_id bigint NOT NULL REFERENCES catalog_category (id))"
        )
        self.categories: dict[str, int] = {}

    def execute(self, sql: str, params: list | None = None) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)

    def add(self, product_id: int, *, category: str = "books", price_cents: int = 1000) -> None:
        if category not in self.categories:
            self.categories[category] = len(self.categories) + 1
            self.execute(
                "INSERT INTO catalog_category (id, slug) VALUES (%s, %s)",
                [self.categories[category], category],
            )
        moment = self.connection.ops.adapt_datetimefield_value(CREATED)
        self.execute(
            "INSERT INTO catalog_product (id, sku, name, description, price_cents, created_at,"
            " updated_at, category_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [
                product_id,
                f"SKU-{product_id:04d}",
                f"Product {product_id} – ünïcode",
                f"About product {product_id}.",
                price_cents,
                moment,
                moment,
                self.categories[category],
            ],
        )


@pytest.fixture
def monolith() -> Monolith:
    source = Monolith()
    for product_id in range(1, 8):  # 7 products, ids 1..7, in two categories
        source.add(product_id, category="books" if product_id % 2 else "games")
    return source


def copy(*args: str) -> str:
    out = io.StringIO()
    call_command("copy_catalog", "--batch-size", "3", *args, stdout=out)
    return out.getvalue()


def checksums(output: str) -> dict[str, str]:
    return dict(
        re.findall(r"verify: (monolith|service) +(\d+ products, sha256 [0-9a-f]{64})", output)
    )


def test_the_copy_keeps_ids_and_reports_progress_counts_and_checksums(monolith):
    output = copy()

    assert "copy_catalog: 2 categories: 2 inserted" in output
    for progress in ("3/7 products …", "6/7 products …", "7/7 products …"):
        assert f"copy_catalog: {progress}" in output
    assert "copy_catalog: 7 products: 7 inserted, 0 updated, 0 unchanged" in output
    sums = checksums(output)
    assert sums["monolith"] == sums["service"]
    assert sums["service"].startswith("7 products, sha256 ")
    assert "the service's catalog matches the monolith's" in output

    product = products.get(product_id=6)
    assert (product.sku, product.name, product.category, product.price_cents) == (
        "SKU-0006",
        "Product 6 – ünïcode",
        "games",
        1000,
    )
    row = Product.objects.get(id=6)
    assert (row.created_at, row.updated_at) == (CREATED, CREATED)  # the monolith's, kept


def test_a_second_copy_changes_nothing(monolith):
    first = copy()

    second = copy()

    assert "7 products: 0 inserted, 0 updated, 7 unchanged" in second
    assert checksums(second) == checksums(first)


def test_a_price_changed_in_the_monolith_is_copied_again(monolith):
    copy()
    monolith.execute("UPDATE catalog_product SET price_cents = 4321 WHERE id = 5")

    output = copy()

    assert "7 products: 0 inserted, 1 updated, 6 unchanged" in output
    assert products.get(product_id=5).price_cents == 4321
    assert checksums(output)["monolith"] == checksums(output)["service"]


def test_a_product_only_the_service_has_is_left_alone_and_new_ones_get_fresh_ids(monolith):
    copy()
    own = make_product(sku="OWN-1")  # created in the service after the copy

    output = copy()

    assert own.id > 7  # the id sequence was moved past the copied ids
    assert products.get(product_id=own.id) == own
    assert "0 inserted, 0 updated, 7 unchanged" in output
    assert checksums(output)["service"].startswith("7 products")  # over the monolith's ids


def test_a_copy_that_does_not_match_the_monolith_in_the_end_fails(monolith, monkeypatch):
    def monolith_changes_during_the_copy(command) -> None:
        monolith.execute("UPDATE catalog_product SET name = 'Renamed' WHERE id = 2")

    monkeypatch.setattr(CopyCatalog, "reset_sequences", monolith_changes_during_the_copy)

    with pytest.raises(CommandError, match="differs from the monolith's"):
        copy()


def test_if_empty_copies_into_an_empty_service_only(monolith):
    assert "7 inserted" in copy("--if-empty")
    monolith.add(8)

    output = copy("--if-empty")

    assert output == (
        "copy_catalog: the service holds 7 products already; nothing copied (--if-empty)\n"
    )
    assert not Product.objects.filter(id=8).exists()


def test_a_service_database_not_migrated_yet_is_a_clear_error(monolith, monkeypatch):
    monkeypatch.setattr(connections["default"].introspection, "table_names", lambda: [])

    with pytest.raises(CommandError, match="run `python -m catalog_service migrate` first"):
        copy("--if-empty")


def test_a_monolith_without_the_catalog_tables_is_a_clear_error(db):
    with pytest.raises(CommandError, match="has no table catalog_category, catalog_product"):
        copy()


def test_a_monolith_database_that_is_not_there_is_a_clear_error(monkeypatch, tmp_path):
    source = connections["monolith"]
    # SQLite: a file that is missing (connecting would create it, empty); PostgreSQL: a
    # database the server does not have.
    sqlite = source.vendor == "sqlite"
    missing = str(tmp_path / "db.sqlite3") if sqlite else f"no_such_db_{uuid.uuid4().hex[:8]}"
    source.close()
    monkeypatch.setitem(source.settings_dict, "NAME", missing)
    try:
        with pytest.raises(CommandError, match=f"the monolith's database {missing}"):
            copy()
    finally:
        source.close()  # the next test connects to the real one again

    assert not (tmp_path / "db.sqlite3").exists()  # and no file was created by trying
