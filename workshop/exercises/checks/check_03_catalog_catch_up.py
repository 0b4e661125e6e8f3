"""Check of exercise 03-catalog-catch-up: `copy_catalog --changed-since MOMENT` copies only the
products the monolith changed at or after MOMENT, and every pass says where the next one
starts, so that no write made while a pass ran is missed.

The monolith is the stand-in of the catalog service's own tests (catalog_service/tests/
monolith.py): its catalog tables and the view `catalog_product_v1` in the "monolith" test
database, seven products, ids 1 to 7.
"""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from catalog_service import products
from catalog_service.models import Product
from catalog_service.tests.monolith import Monolith
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections

pytestmark = pytest.mark.django_db(databases=["default", "monolith"])

NEXT = re.compile(r"^copy_catalog: next catch-up: --changed-since (\S+)$", re.MULTILINE)
MOMENT = datetime(2026, 12, 5, 6, 0, 0, tzinfo=UTC)  # after the rows were made, in November


@pytest.fixture(scope="session")
def django_db_modify_db_settings() -> None:
    """SQLite makes a file, not the folder it goes in."""
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def monolith(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    source = Monolith()
    source.create()
    for product_id in range(1, 8):
        source.add(product_id)
    yield source
    source.drop()


def copy(*args: str) -> tuple[str, str | None]:
    """What the copy printed, and its error (None: it succeeded)."""
    out = io.StringIO()
    try:
        call_command("copy_catalog", "--batch-size", "3", *args, stdout=out)
    except CommandError as error:
        return out.getvalue(), str(error)
    return out.getvalue(), None


def next_moment(output: str) -> str:
    found = NEXT.findall(output)
    assert len(found) == 1, (
        "a pass must print one line `copy_catalog: next catch-up: --changed-since <moment>` "
        f"(the moment it began reading), before its summary; it printed:\n{output}"
    )
    return found[0]


def test_a_catch_up_copies_only_the_products_changed_since_the_moment(monolith):
    copy()
    monolith.change(2, price_cents=2222, at=MOMENT + timedelta(seconds=1))
    monolith.change(6, price_cents=6666, at=MOMENT + timedelta(minutes=5))

    output, error = copy("--changed-since", "2026-12-05T06:00:00Z")

    assert error is None, f"the catch-up failed: {error}\n{output}"
    assert "copy_catalog: 2/2 products …" in output, (
        "a catch-up reads only the products changed at or after the moment, and its "
        f"progress counts those (2/2 here):\n{output}"
    )
    assert "2 products: 0 inserted, 2 updated, 0 unchanged, 0 kept" in output, output
    assert (products.get(product_id=2).price_cents, products.get(product_id=6).price_cents) == (
        2222,
        6666,
    )


def test_a_product_changed_exactly_at_the_moment_is_read_and_a_moment_without_zone_is_utc(
    monolith,
):
    copy()
    monolith.change(4, price_cents=4444, at=MOMENT)  # exactly 06:00:00.000000 UTC

    output, error = copy("--changed-since", "2026-12-05T06:00:00")

    assert "1 products: 0 inserted, 1 updated, 0 unchanged, 0 kept" in output, (
        "the product changed at exactly the moment must be read (at or after), and a moment "
        "without a zone is UTC; compare it as the database stores its timestamps (on SQLite, "
        f"text without a zone: let the connection's ops adapt the value):\n{output}"
    )
    assert error is None, f"the catch-up failed: {error}\n{output}"


def test_a_moment_that_is_not_a_date_and_time_is_a_clear_error_and_copies_nothing(monolith):
    output, error = copy("--changed-since", "yesterday")

    assert error is not None and "--changed-since" in error, (
        "`--changed-since yesterday` must stop with an error (a CommandError) that names "
        f"--changed-since; it printed:\n{output}"
    )
    assert not Product.objects.exists(), "a refused catch-up must copy nothing"


def test_each_pass_says_where_the_next_catch_up_starts(monolith):
    before = datetime.now(UTC)
    output, error = copy()
    after = datetime.now(UTC)

    assert error is None, error
    moment = datetime.fromisoformat(next_moment(output))
    assert moment.tzinfo is not None, "give the moment with its zone (UTC)"
    assert before <= moment <= after, (
        f"the next catch-up starts when this pass began reading ({moment} is not between "
        f"{before} and {after})"
    )


def test_a_product_changed_while_a_pass_ran_is_read_by_the_next_catch_up(monolith):
    """Product 1 changes after the pass read its batch. The pass cannot see it; the catch-up
    from the moment the pass printed must."""
    changed = []

    def staff_edit_after_the_first_batch(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not changed and "catalog_product_v1" in sql and "ORDER BY" in sql.upper():
            changed.append(True)
            monolith.change(1, price_cents=1111)
        return result

    with connections["monolith"].execute_wrapper(staff_edit_after_the_first_batch):
        output, _ = copy()  # its verify may well find product 1: that is what catch-ups fix
    assert changed, "the copy did not read the view catalog_product_v1 in id order"

    catch_up, error = copy("--changed-since", next_moment(output))

    assert error is None, f"the catch-up failed: {error}\n{catch_up}"
    assert "1 products: 0 inserted, 1 updated, 0 unchanged, 0 kept" in catch_up, (
        "a write made while the pass ran must be read by the next catch-up: its moment is when "
        f"the pass began reading, not when it ended:\n{catch_up}"
    )
    assert products.get(product_id=1).price_cents == 1111
