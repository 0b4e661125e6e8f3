"""`python -m catalog_service copy_catalog`: copy the catalog out of the monolith's database.

Step 2 of the strangler fig (workshop/03-strangler.md): before the catalog service may answer
anything, it needs the monolith's catalog, with the same product ids (carts, orders and
stock refer to them). A backfill that may run while traffic flows, and be stopped and resumed:

- it reads the view `catalog_product_v1`, never the monolith's tables: the view is what the
  monolith publishes for this copy (catalog/migrations/0002 over there), so the monolith may
  change its tables behind it. Plain SQL through the "monolith" alias: the monolith's models
  belong to another Django project;
- keyset batches in id order, one transaction and one progress line each, and after each
  batch the last id copied goes to a progress file, so `--resume` starts after it;
- idempotent upserts by id: a missing product is inserted, one that differs is updated (the
  monolith's row wins) unless the service's row changed later (its `updated_at` is newer:
  a write the service took itself, which the monolith's older row must not undo); an equal
  one is left alone, and a product only the service has is not touched;
- verified: afterwards each batch is read again on both sides and compared by a SHA-256;
  a batch that differs is compared row by row and each product that differs is named, with
  the fields and which side changed it last. A difference is an error (exit code 1) unless
  the service's row is the newer one: run the copy again and it copies what changed during
  the first pass. `--verify` does only this, copying nothing.

`--if-empty` copies only into a service that holds no product yet, or finishes a copy that
was killed (its progress file is there): how the stage's release step runs it ("copy the
catalog if needed").
"""

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.utils import timezone

from catalog_service import products
from catalog_service.models import Category, Product

SOURCE = "monolith"
# The monolith's published view of its catalog (its catalog/migrations/0002_catalog_product_v1).
SOURCE_VIEW = "catalog_product_v1"
SOURCE_COLUMNS = "id, sku, name, description, category, price_cents, created_at, updated_at"
SOURCE_PRODUCTS = f"SELECT {SOURCE_COLUMNS} FROM {SOURCE_VIEW} WHERE id > %s ORDER BY id LIMIT %s"
COPIED = ("sku", "name", "description", "category_id", "price_cents", "created_at", "updated_at")
CHECKED = ("id", "sku", "name", "description", "category__slug", "price_cents")
NAMES = ("id", "sku", "name", "description", "category", "price_cents")  # CHECKED, as fields


def _aware(moment: datetime) -> datetime:
    """SQLite hands the monolith's timestamps back without a zone; they were stored in UTC."""
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


class Checksum:
    """How many rows, and a SHA-256 over them: one JSON line each, in the order added."""

    def __init__(self, rows: Iterable[tuple[Any, ...]] = ()) -> None:
        self.count = 0
        self.sha256 = hashlib.sha256()
        self.add(rows)

    def add(self, rows: Iterable[tuple[Any, ...]]) -> None:
        for row in rows:
            self.sha256.update(json.dumps(list(row), ensure_ascii=False).encode() + b"\n")
            self.count += 1

    def __str__(self) -> str:
        return f"{self.count} products, sha256 {self.sha256.hexdigest()}"


def difference(monolith: tuple[Any, ...], service: tuple[Any, ...] | None) -> tuple[str, bool]:
    """What differs in one product, said for a person, and whether the copy must fix it
    (False: the service's row is the newer one, and the copy keeps it)."""
    if service is None:
        return f"product {monolith[0]} is missing in the service", True
    fields = ", ".join(
        f"{name} monolith={in_monolith!r} service={in_service!r}"
        for name, in_monolith, in_service in zip(NAMES, monolith, service, strict=False)
        if in_monolith != in_service
    )
    changed, copied = _aware(monolith[-1]), service[-1]
    if changed > copied:
        return f"product {monolith[0]}: {fields}: changed in the monolith after its copy", True
    if changed < copied:
        return f"product {monolith[0]}: {fields}: changed in the service since (kept)", False
    return f"product {monolith[0]}: {fields}: changed without updated_at changing", True


class Command(BaseCommand):
    help = "Copy the catalog from the monolith's database into the catalog service's."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing if the service already holds products (the release step's way)",
        )
        parser.add_argument(
            "--resume",
            action="store_true",
            help="start after the last batch an interrupted copy finished",
        )
        parser.add_argument(
            "--verify",
            action="store_true",
            help="copy nothing: compare both sides and name the products that differ",
        )
        parser.add_argument("--batch-size", type=int, default=500, help="products per batch")

    def handle(
        self, *args, if_empty: bool, resume: bool, verify: bool, batch_size: int, **options
    ) -> None:
        if Product._meta.db_table not in connection.introspection.table_names():
            raise CommandError(
                "copy_catalog: the service's database has no catalog tables yet: "
                "run `python -m catalog_service migrate` first"
            )
        self.source = connections[SOURCE]
        self.check_source()
        if verify:
            self.verify(batch_size)
            return
        if if_empty and (held := Product.objects.count()):
            if not self.progress_file().exists():
                self.say(f"the service holds {held} products already; nothing copied (--if-empty)")
                return
            resume = True  # a release killed during its copy: finish it, or it never will be
        after_id = self.resume_point() if resume else 0
        total = self.source_count()
        slugs = [
            row[0] for row in self.source_query(f"SELECT DISTINCT category FROM {SOURCE_VIEW}")
        ]
        categories = self.copy_categories(slugs)

        counts = {"inserted": 0, "updated": 0, "unchanged": 0, "kept": 0}
        done = self.source_count("WHERE id <= %s", [after_id])  # copied by an interrupted run
        for batch in self.source_batches(batch_size, after_id=after_id):
            for outcome, number in self.copy_batch(batch, categories).items():
                counts[outcome] += number
            self.save_progress(batch[-1][0])
            done += len(batch)
            self.say(f"{done}/{total} products …")
        self.reset_sequences()
        self.progress_file().unlink(missing_ok=True)  # finished: nothing left to resume
        summary = ", ".join(f"{number} {outcome}" for outcome, number in counts.items())
        self.say(f"{done} products: {summary} (newer in the service)")
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
            tables = set(self.source.introspection.table_names(include_views=True))
        except DatabaseError as error:
            raise CommandError(
                f"copy_catalog: cannot open the monolith's database {name}: {error}"
            ) from error
        if SOURCE_VIEW not in tables:
            raise CommandError(
                f"copy_catalog: the monolith's database {name} has no view {SOURCE_VIEW}: "
                "migrate (and seed) the monolith first"
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

    def source_count(self, where: str = "", params: list[Any] | None = None) -> int:
        return self.source_query(f"SELECT COUNT(*) FROM {SOURCE_VIEW} {where}", params)[0][0]

    def source_batches(
        self, batch_size: int, *, after_id: int = 0
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The monolith's products in id order, `batch_size` at a time (keyset pagination:
        each batch starts after the last id of the one before, so no batch costs more than
        the first, and a copy can start again after any id)."""
        while batch := self.source_query(SOURCE_PRODUCTS, [after_id, batch_size]):
            yield batch
            after_id = batch[-1][0]

    # --- where an interrupted copy stopped ---------------------------------------------------
    def progress_file(self) -> Path:
        return Path(settings.VAR_DIR) / "copy_catalog.progress"

    def databases(self) -> dict[str, str]:
        return {
            "monolith": str(self.source.settings_dict["NAME"]),
            "service": str(connection.settings_dict["NAME"]),
        }

    def save_progress(self, last_id: int) -> None:
        """After a batch committed. A crash before this line repeats that batch on --resume,
        which changes nothing: the upserts are idempotent."""
        record = {"after_id": last_id, **self.databases()}
        self.progress_file().parent.mkdir(parents=True, exist_ok=True)
        self.progress_file().write_text(json.dumps(record) + "\n")

    def resume_point(self) -> int:
        path = self.progress_file()
        if not path.exists():
            self.say(f"nothing to resume (no {path.name}): copying from the start")
            return 0
        record = json.loads(path.read_text())
        if {key: record.get(key) for key in ("monolith", "service")} != self.databases():
            raise CommandError(
                f"copy_catalog: {path} is the progress of a copy between other databases "
                f"({record.get('monolith')} -> {record.get('service')}): "
                "delete it, or run without --resume"
            )
        self.say(f"resuming after product {record['after_id']} ({path.name})")
        return record["after_id"]

    # --- the service's side ------------------------------------------------------------------
    def copy_categories(self, slugs: list[str]) -> dict[str, int]:
        """Every category of the monolith's products, by slug; the service's ids by slug."""
        with transaction.atomic():
            held = set(Category.objects.values_list("slug", flat=True))
            new = [Category(slug=slug) for slug in sorted(slugs) if slug not in held]
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
        try:
            with transaction.atomic():
                # Locked until the batch commits: a write the service takes meanwhile (over
                # gRPC) waits, and is then the newer row, instead of being overwritten unseen.
                held = {
                    row.pop("id"): row
                    for row in Product.objects.select_for_update()
                    .filter(id__in=wanted)
                    .values("id", *COPIED)
                }
                inserts, updates, kept = [], [], 0
                for product_id, values in wanted.items():
                    if product_id not in held:
                        inserts.append(Product(id=product_id, **values))
                    elif held[product_id] == values:
                        continue
                    elif held[product_id]["updated_at"] > values["updated_at"]:
                        kept += 1
                    else:
                        updates.append(Product(id=product_id, **values))
                Product.objects.bulk_create(inserts)
                Product.objects.bulk_update(updates, COPIED)
        except IntegrityError as error:
            raise CommandError(
                "copy_catalog: a product of the monolith clashes with one only the service has "
                f"(the same sku under another id), ids {min(wanted)}..{max(wanted)}: {error}"
            ) from error
        unchanged = len(wanted) - len(inserts) - len(updates) - kept
        return {
            "inserted": len(inserts),
            "updated": len(updates),
            "unchanged": unchanged,
            "kept": kept,
        }

    def reset_sequences(self) -> None:
        """Products went in with the monolith's ids: move PostgreSQL's id sequences past
        them, or the next product created here would collide (a no-op on SQLite)."""
        products.reset_id_sequences()

    # --- both --------------------------------------------------------------------------------
    def verify(self, batch_size: int) -> None:
        """Both sides read afresh, batch by batch, over the monolith's product ids: a SHA-256
        per batch and side (across a network, only these would travel), and the rows of a
        batch whose two digests differ compared one by one."""
        monolith, service = Checksum(), Checksum()
        to_copy, kept = [], []
        width = len(CHECKED)
        for batch in self.source_batches(batch_size):
            held = Product.objects.filter(id__in=[row[0] for row in batch]).order_by("id")
            rows = list(held.values_list(*CHECKED, "updated_at"))
            in_monolith = [row[:width] for row in batch]
            in_service = [row[:width] for row in rows]
            monolith.add(in_monolith)
            service.add(in_service)
            if str(Checksum(in_monolith)) == str(Checksum(in_service)):
                continue
            service_rows = {row[0]: row for row in rows}
            for row in batch:
                held_row = service_rows.get(row[0])
                if held_row is not None and held_row[:width] == row[:width]:
                    continue
                line, must_copy = difference((*row[:width], row[-1]), held_row)
                self.say(f"verify: {line}")
                (to_copy if must_copy else kept).append(row[0])
        self.say(f"verify: monolith {monolith}")
        self.say(f"verify: service  {service}")
        if to_copy:
            raise CommandError(
                f"copy_catalog: the service's catalog differs from the monolith's for "
                f"{len(to_copy)} product(s): {', '.join(map(str, to_copy))}; run the copy "
                "again (did the monolith change during the copy?)"
            )
        if kept:
            self.say(
                f"verify: the service's catalog matches the monolith's but for {len(kept)} "
                f"product(s) changed in the service since: {', '.join(map(str, kept))}"
            )
            return
        self.say("verify: the service's catalog matches the monolith's")
