"""copy_catalog: the monolith's catalog into the service's database, idempotent, resumable,
verified, and safe while the monolith keeps taking writes.

The "monolith" test database stands in for the monolith's (tests/monolith.py makes its
tables and view), filled with rows.
"""

import io
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext

from catalog_service import products
from catalog_service.management.commands.copy_catalog import Command as CopyCatalog
from catalog_service.models import Product

from .conftest import make_product
from .monolith import CREATED, Monolith

pytestmark = pytest.mark.django_db(databases=["default", "monolith"])


@pytest.fixture
def monolith(settings, tmp_path) -> Monolith:
    settings.VAR_DIR = tmp_path  # where the progress file of an interrupted copy goes
    source = Monolith()
    source.create()
    for product_id in range(1, 8):  # 7 products, ids 1..7, in two categories
        source.add(product_id, category="books" if product_id % 2 else "games")
    yield source
    source.drop()


def copy(*args: str) -> str:
    out = io.StringIO()
    call_command("copy_catalog", "--batch-size", "3", *args, stdout=out)
    return out.getvalue()


def failing_copy(*args: str) -> tuple[str, str]:
    """A copy expected to fail: what it printed, and its error."""
    out = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("copy_catalog", "--batch-size", "3", *args, stdout=out)
    return out.getvalue(), str(failure.value)


def checksums(output: str) -> dict[str, str]:
    return dict(
        re.findall(r"verify: (monolith|service) +(\d+ products, sha256 [0-9a-f]{64})", output)
    )


def test_the_copy_keeps_ids_and_reports_progress_counts_and_checksums(monolith):
    output = copy()

    assert "copy_catalog: 2 categories: 2 inserted" in output
    for progress in ("3/7 products …", "6/7 products …", "7/7 products …"):
        assert f"copy_catalog: {progress}" in output
    assert "copy_catalog: 7 products: 7 inserted, 0 updated, 0 unchanged, 0 kept" in output
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
    with pytest.raises(CommandError, match="has no view catalog_product_v1: migrate"):
        copy()


def test_a_monolith_with_its_tables_but_not_the_view_is_a_clear_error(db):
    Monolith().create(view=False)  # a monolith not migrated to catalog 0002 yet

    with pytest.raises(CommandError, match="has no view catalog_product_v1: migrate"):
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


# --- the view, not the tables ----------------------------------------------------------------
def test_the_copy_reads_the_monolith_s_view_and_never_its_tables(monolith):
    with CaptureQueriesContext(connections["monolith"]) as queries:
        copy()

    statements = [query["sql"] for query in queries.captured_queries]
    assert any("catalog_product_v1" in sql for sql in statements)
    touching_tables = [
        sql for sql in statements if re.search(r"\bcatalog_(product|category)\b", sql)
    ]
    assert touching_tables == [], "the copy must read the view catalog_product_v1 only"


# --- stopped and resumed -------------------------------------------------------------------
def killed_in_the_second_batch(monkeypatch, *args: str) -> None:
    """A copy whose process dies after its first batch (ids 1..3) committed."""
    real_copy_batch = CopyCatalog.copy_batch

    def crash_in_the_second_batch(command, batch, categories):
        if batch[0][0] > 3:
            raise RuntimeError("the copy's process was killed")
        return real_copy_batch(command, batch, categories)

    with monkeypatch.context() as patched:
        patched.setattr(CopyCatalog, "copy_batch", crash_in_the_second_batch)
        with pytest.raises(RuntimeError):
            copy(*args)


def test_an_interrupted_copy_resumes_after_its_last_finished_batch(monolith, monkeypatch):
    killed_in_the_second_batch(monkeypatch)
    assert sorted(Product.objects.values_list("id", flat=True)) == [1, 2, 3]

    output = copy("--resume")

    assert "copy_catalog: resuming after product 3 (copy_catalog.progress)" in output
    assert "copy_catalog: 3/7 products …" not in output  # the first batch is not read again
    assert "copy_catalog: 6/7 products …" in output
    assert "7 products: 4 inserted, 0 updated, 0 unchanged, 0 kept" in output
    assert "the service's catalog matches the monolith's" in output
    assert "nothing to resume" in copy("--resume")  # a finished copy leaves nothing behind


def test_if_empty_finishes_a_copy_that_was_killed_instead_of_skipping_it(monolith, monkeypatch):
    killed_in_the_second_batch(monkeypatch, "--if-empty")  # a release, killed

    output = copy("--if-empty")  # the next release: the service is not empty, but unfinished

    assert "resuming after product 3" in output
    assert "7 products: 4 inserted, 0 updated, 0 unchanged, 0 kept" in output
    assert "holds 7 products already" in copy("--if-empty")


def test_a_resume_between_other_databases_is_refused(monolith, settings):
    (settings.VAR_DIR / "copy_catalog.progress").write_text(
        '{"after_id": 3, "monolith": "elsewhere.sqlite3", "service": "other.sqlite3"}\n'
    )

    _, error = failing_copy("--resume")

    assert "progress of a copy between other databases" in error
    assert not Product.objects.exists()


# --- a row the service changed later -------------------------------------------------------
def test_a_product_changed_in_the_service_since_the_copy_is_kept_and_named(monolith):
    copy()
    # A write the service took itself, after the copy.
    products.update(product_id=5, fields=["price_cents"], price_cents=999)

    output = copy()

    assert "7 products: 0 inserted, 0 updated, 6 unchanged, 1 kept" in output
    assert products.get(product_id=5).price_cents == 999
    assert (
        "verify: product 5: price_cents monolith=1000 service=999: "
        "changed in the service since (kept)"
    ) in output
    assert "matches the monolith's but for 1 product(s) changed in the service since: 5" in output


# --- verify ----------------------------------------------------------------------------------
def test_verify_names_a_corrupted_product_and_fails_and_the_copy_repairs_it(monolith):
    copy()
    Product.objects.filter(id=4).update(name="Corrupted")  # behind the application's back

    output, error = failing_copy("--verify")

    assert (
        "verify: product 4: name monolith='Product 4 – ünïcode' service='Corrupted': "
        "changed without updated_at changing"
    ) in output
    assert "differs from the monolith's for 1 product(s): 4;" in error
    assert "7 products: 0 inserted, 1 updated, 6 unchanged, 0 kept" in copy()


def test_verify_copies_nothing(monolith):
    output, error = failing_copy("--verify")

    assert "verify: product 1 is missing in the service" in output
    assert "differs from the monolith's for 7 product(s): 1, 2," in error
    assert not Product.objects.exists()


# --- while the monolith takes writes ---------------------------------------------------------
@pytest.fixture
def monolith_committed(settings, tmp_path):
    """The monolith's tables outside any test transaction, so that another thread (another
    connection) sees them, as the monolith's own processes would."""
    settings.VAR_DIR = tmp_path
    source = Monolith()
    source.create()
    try:
        for product_id in range(1, 8):
            source.add(product_id)
        yield source
    finally:
        source.drop()


@pytest.mark.django_db(databases=["default", "monolith"], transaction=True)
def test_a_copy_while_the_monolith_takes_writes_names_what_changed_after_its_batch(
    monolith_committed, monkeypatch
):
    """A staff user changes two prices while the copy runs, on a connection of their own:
    product 2 just after its batch was copied, product 5 just before its own. The verify names
    product 2 only, and a second pass copies it."""
    first_batch_done, prices_changed = threading.Event(), threading.Event()

    def monolith_traffic() -> None:
        try:
            first_batch_done.wait(10)
            staff = Monolith()  # this thread's own connection to the monolith's database
            staff.change(2, price_cents=1500)
            staff.change(5, price_cents=1500)
            staff.connection.close()
        finally:
            prices_changed.set()

    real_save_progress = CopyCatalog.save_progress

    def after_each_batch(command, last_id: int) -> None:
        real_save_progress(command, last_id)
        if last_id == 3:
            first_batch_done.set()
            assert prices_changed.wait(10)

    monkeypatch.setattr(CopyCatalog, "save_progress", after_each_batch)
    traffic = threading.Thread(target=monolith_traffic)
    traffic.start()
    output, error = failing_copy()
    traffic.join()

    assert "7 products: 7 inserted, 0 updated, 0 unchanged, 0 kept" in output
    assert (
        "verify: product 2: price_cents monolith=1500 service=1000: changed in the monolith"
        in output
    )
    assert "product 5" not in output  # changed before its batch: copied as it was then
    assert "differs from the monolith's for 1 product(s): 2;" in error

    second = copy()

    assert "7 products: 0 inserted, 1 updated, 6 unchanged, 0 kept" in second
    assert "the service's catalog matches the monolith's" in second
    assert (products.get(product_id=2).price_cents, products.get(product_id=5).price_cents) == (
        1500,
        1500,
    )


def test_a_later_write_in_the_monolith_wins_over_an_earlier_one_in_the_service(monolith):
    copy()
    products.update(product_id=3, fields=["name"], name="Renamed in the service")
    monolith.change(3, name="Renamed in the monolith", at=datetime.now(UTC) + timedelta(hours=1))

    output, error = failing_copy("--verify")

    assert (
        "product 3: name monolith='Renamed in the monolith' service='Renamed in the service'"
        in output
    )
    assert "changed in the monolith after its copy" in output
    assert "1 updated" in copy()  # the monolith's is the newer write: it wins
    assert products.get(product_id=3).name == "Renamed in the monolith"
