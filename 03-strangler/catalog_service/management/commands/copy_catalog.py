"""`python -m catalog_service copy_catalog`: copy the catalog out of the monolith's database.

Step 2 of the strangler fig (workshop/03-strangler.md): before the catalog service may answer
anything, it needs the monolith's catalog, with the same product ids (carts, orders and
stock refer to them). This reads the monolith's tables with plain SQL through the "monolith"
alias (the monolith's models belong to another Django project) and writes the service's:

- categories by slug, products by id, in batches, one transaction and one progress line each;
- idempotent: a missing product is inserted, one that differs is updated (the monolith's row
  wins), an equal one is left alone, and a product only the service has is not touched. Run
  it as often as you like: the second run reports 0 inserted and 0 updated;
- verified: afterwards both sides are read again and compared by count and by a SHA-256 over
  (id, sku, name, description, category, price_cents) in id order. A difference is an error
  (exit code 1): the copy is not done until the two agree.

`--if-empty` copies only into a service that holds no product yet: how the stage's release
step runs it ("copy the catalog if needed"), so a restart never overwrites the service's own
changes with the monolith's older rows.
"""

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.utils import timezone

from catalog_service import products
from catalog_service.models import Category, Product

SOURCE = "monolith"
SOURCE_TABLES = ("catalog_category", "catalog_product")
# The columns the monolith's catalog migrations made (catalog/migrations/0001_initial.py).
SOURCE_PRODUCTS = """
    SELECT p.id, p.sku, p.name, p.description, c.slug, p.price_cents, p.created_at, p.updated_at
    FROM catalog_product p JOIN catalog_category c ON c.id = p.category_id
    WHERE p.id > %s ORDER BY p.id LIMIT %s
"""
COPIED = ("sku", "name", "description", "category_id", "price_cents", "created_at", "updated_at")
CHECKED = ("id", "sku", "name", "description", "category__slug", "price_cents")


def _aware(moment: datetime) -> datetime:
    """SQLite hands the monolith's timestamps back without a zone; they were stored in UTC."""
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


class Checksum:
    """How many rows, and a SHA-256 over them: one JSON line each, in the order added."""

    def __init__(self) -> None:
        self.count = 0
        self.sha256 = hashlib.sha256()

    def add(self, rows: Iterable[tuple[Any, ...]]) -> None:
        for row in rows:
            self.sha256.update(json.dumps(list(row), ensure_ascii=False).encode() + b"\n")
            self.count += 1

    def __str__(self) -> str:
        return f"{self.count} products, sha256 {self.sha256.hexdigest()}"


class Command(BaseCommand):
    help = "Copy the catalog from the monolith's database into the catalog service's."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing if the service already holds products (the release step's way)",
        )
        parser.add_argument("--batch-size", type=int, default=500, help="products per batch")

    def handle(self, *args, if_empty: bool, batch_size: int, **options) -> None:
        if Product._meta.db_table not in connection.introspection.table_names():
            raise CommandError(
                "copy_catalog: the service's database has no catalog tables yet: "
                "run `python -m catalog_service migrate` first"
            )
        if if_empty and (held := Product.objects.count()):
            self.say(f"the service holds {held} products already; nothing copied (--if-empty)")
            return
        self.source = connections[SOURCE]
        self.check_source()
        total = self.source_query("SELECT COUNT(*) FROM catalog_product")[0][0]
        slugs = [row[0] for row in self.source_query("SELECT slug FROM catalog_category")]
        categories = self.copy_categories(slugs)

        counts = {"inserted": 0, "updated": 0, "unchanged": 0}
        done = 0
        for batch in self.source_batches(batch_size):
            for outcome, number in self.copy_batch(batch, categories).items():
                counts[outcome] += number
            done += len(batch)
            self.say(f"{done}/{total} products …")
        self.reset_sequences()
        summary = ", ".join(f"{number} {outcome}" for outcome, number in counts.items())
        self.say(f"{done} products: {summary}")
        self.verify(batch_size)

    def say(self, line: str) -> None:
        self.stdout.write(f"copy_catalog: {line}")

    # --- the monolith's side -----------------------------------------------------------------
    def check_source(self) -> None:
        name = self.source.settings_dict["NAME"]
        if self.source.vendor == "sqlite" and not Path(name).exists():
            # Connecting would create an empty file where the monolith's database should be.
            raise CommandError(f"copy_catalog: the monolith's database {name} does not exist")
        try:
            tables = set(self.source.introspection.table_names())
        except DatabaseError as error:
            raise CommandError(
                f"copy_catalog: cannot open the monolith's database {name}: {error}"
            ) from error
        missing = [table for table in SOURCE_TABLES if table not in tables]
        if missing:
            raise CommandError(
                f"copy_catalog: the monolith's database {name} has no table "
                f"{', '.join(missing)}: migrate (and seed) the monolith first"
            )

    def source_query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            with self.source.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()
        except DatabaseError as error:
            raise CommandError(
                f"copy_catalog: cannot read the monolith's catalog: {error}"
            ) from error

    def source_batches(self, batch_size: int) -> Iterator[list[tuple[Any, ...]]]:
        """The monolith's products in id order, `batch_size` at a time (keyset pagination:
        each batch starts after the last id of the one before, so no batch costs more than
        the first)."""
        last_id = 0
        while batch := self.source_query(SOURCE_PRODUCTS, [last_id, batch_size]):
            yield batch
            last_id = batch[-1][0]

    # --- the service's side ------------------------------------------------------------------
    def copy_categories(self, slugs: list[str]) -> dict[str, int]:
        """Every category of the monolith, by slug; returns the service's ids by slug."""
        with transaction.atomic():
            held = set(Category.objects.values_list("slug", flat=True))
            new = [Category(slug=slug) for slug in slugs if slug not in held]
            Category.objects.bulk_create(new)
        self.say(f"{len(slugs)} categories: {len(new)} inserted")
        return dict(Category.objects.values_list("slug", "id"))

    def copy_batch(
        self, batch: list[tuple[Any, ...]], categories: dict[str, int]
    ) -> dict[str, int]:
        wanted = {}
        for product_id, sku, name, description, slug, price_cents, created, updated in batch:
            wanted[product_id] = {
                "sku": sku,
                "name": name,
                "description": description,
                "category_id": categories[slug],
                "price_cents": price_cents,
                "created_at": _aware(created),
                "updated_at": _aware(updated),
            }
        held = {
            row.pop("id"): row
            for row in Product.objects.filter(id__in=wanted).values("id", *COPIED)
        }
        inserts = [
            Product(id=product_id, **values)
            for product_id, values in wanted.items()
            if product_id not in held
        ]
        updates = [
            Product(id=product_id, **values)
            for product_id, values in wanted.items()
            if product_id in held and held[product_id] != values
        ]
        try:
            with transaction.atomic():
                Product.objects.bulk_create(inserts)
                Product.objects.bulk_update(updates, COPIED)
        except IntegrityError as error:
            raise CommandError(
                "copy_catalog: a product of the monolith clashes with one only the service has "
                f"(the same sku under another id), ids {min(wanted)}..{max(wanted)}: {error}"
            ) from error
        unchanged = len(wanted) - len(inserts) - len(updates)
        return {"inserted": len(inserts), "updated": len(updates), "unchanged": unchanged}

    def reset_sequences(self) -> None:
        """Products went in with the monolith's ids: move PostgreSQL's id sequences past
        them, or the next product created here would collide (a no-op on SQLite)."""
        products.reset_id_sequences()

    # --- both --------------------------------------------------------------------------------
    def verify(self, batch_size: int) -> None:
        """Count and checksum both sides, over the monolith's product ids, read afresh."""
        monolith, service = Checksum(), Checksum()
        for batch in self.source_batches(batch_size):
            monolith.add(row[: len(CHECKED)] for row in batch)
            ids = [row[0] for row in batch]
            service.add(Product.objects.filter(id__in=ids).order_by("id").values_list(*CHECKED))
        self.say(f"verify: monolith {monolith}")
        self.say(f"verify: service  {service}")
        if str(monolith) != str(service):
            raise CommandError(
                "copy_catalog: the service's catalog differs from the monolith's "
                "(did the monolith change during the copy? run it again)"
            )
        self.say("verify: the service's catalog matches the monolith's")
