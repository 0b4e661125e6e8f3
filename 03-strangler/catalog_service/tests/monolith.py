"""A stand-in for the monolith's catalog in the "monolith" test database, for the tests of
`copy_catalog` (and the checks of exercises that change it).

Its catalog tables and the view `catalog_product_v1` over them are made with plain DDL shaped
as the monolith's migrations make them (those belong to another Django project; the
monolith's tests/catalog/test_catalog_view.py runs the copy against the real ones).
"""

from datetime import UTC, datetime

from django.db import connections

CREATED = datetime(2026, 11, 1, 9, 30, 15, 123456, tzinfo=UTC)


class Monolith:
    """The monolith's catalog tables in the "monolith" test database, and ways to change them."""

    def __init__(self) -> None:
        self.connection = connections["monolith"]
        self.categories: dict[str, int] = {}

    def create(self, *, view: bool = True) -> None:
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
        if view:  # as the monolith's catalog/migrations/0002_catalog_product_v1.py makes it
            self.execute(
                "CREATE VIEW catalog_product_v1 AS SELECT p.id, p.sku, p.name, p.description,"
                " c.slug AS category, p.price_cents, p.created_at, p.updated_at"
                " FROM catalog_product p JOIN catalog_category c ON c.id = p.category_id"
            )

    def drop(self) -> None:
        """What a transactional test made stays made: take it down again."""
        for statement in (
            "DROP VIEW IF EXISTS catalog_product_v1",
            "DROP TABLE IF EXISTS catalog_product",
            "DROP TABLE IF EXISTS catalog_category",
        ):
            self.execute(statement)

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

    def change(self, product_id: int, *, at: datetime | None = None, **columns: object) -> None:
        """An update as the monolith's code makes it: updated_at moves too (auto_now), to now
        or to the moment `at`."""
        moment = self.connection.ops.adapt_datetimefield_value(at or datetime.now(UTC))
        assignments = ", ".join(f"{column} = %s" for column in columns)
        self.execute(
            f"UPDATE catalog_product SET {assignments}, updated_at = %s WHERE id = %s",
            [*columns.values(), moment, product_id],
        )
