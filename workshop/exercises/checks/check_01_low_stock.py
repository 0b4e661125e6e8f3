"""Check of exercise 01-low-stock: `python manage.py low_stock --below N` lists the products
whose available stock is below N, lowest first, in a number of queries that does not grow with
the number of products, and tells a script by its exit status whether any is low.
"""

import pytest
from django.core.management import CommandError, call_command, get_commands
from django.db import connection
from django.test.utils import CaptureQueriesContext
from shop.models import Category, Product, StockLevel

pytestmark = pytest.mark.django_db


def product(sku: str, available: int, name: str = "Kettle") -> Product:
    category, _ = Category.objects.get_or_create(slug="kitchen")
    made = Product.objects.create(sku=sku, name=name, category=category, price_cents=1250)
    StockLevel.objects.create(product=made, available=available)
    return made


def low_stock(*args: str) -> tuple[int, list[str]]:
    """Run the command: its exit status and the lines it printed."""
    from io import StringIO

    out = StringIO()
    try:
        call_command("low_stock", *args, stdout=out)
        status = 0
    except CommandError as error:  # Django prints its message on stderr, after "CommandError:"
        status = error.returncode
        out.write(str(error) + "\n")
    except SystemExit as error:  # sys.exit(1) after the summary is as good
        status = error.code if isinstance(error.code, int) else 1
    return status, [line for line in out.getvalue().splitlines() if line.strip()]


def listed(lines: list[str]) -> list[tuple[str, int]]:
    """(sku, available) of each product line: the lines that start with a sku of the test."""
    rows = []
    for line in lines:
        words = line.split()
        if words and words[0].startswith("LOW-"):
            assert len(words) >= 2 and words[1].isdigit(), (
                f"a product line is `<sku> <available> <name>`, not {line!r}"
            )
            rows.append((words[0], int(words[1])))
    return rows


def test_the_command_exists():
    assert "low_stock" in get_commands(), (
        "there is no management command low_stock: add shop/management/commands/low_stock.py"
    )


def test_it_lists_the_products_below_the_threshold_lowest_first():
    product("LOW-B", 2)
    product("LOW-A", 2)
    product("LOW-C", 0)
    product("LOW-D", 5)  # not below 5
    product("LOW-E", 40)
    status, lines = low_stock("--below", "5")
    assert listed(lines) == [("LOW-C", 0), ("LOW-A", 2), ("LOW-B", 2)], (
        "expected the products with fewer than 5 units, lowest stock first and by sku among "
        "equals, one per line as `<sku> <available> <name>`; the command printed:\n"
        + "\n".join(lines)
    )
    assert status == 1, f"three products are low: the exit status must be 1, not {status}"
    assert "3 products below 5" in lines[-1], (
        f"the last line must say how many are low: `3 products below 5`, not {lines[-1]!r}"
    )


def test_the_threshold_defaults_to_five_and_nothing_low_exits_zero():
    product("LOW-A", 5)
    product("LOW-B", 9)
    status, lines = low_stock()
    assert listed(lines) == [], f"nothing is below 5, yet the command listed:\n{lines}"
    assert status == 0, f"nothing is low: the exit status must be 0, not {status}"
    assert lines and "0 products below 5" in lines[-1], f"the summary line is missing: {lines}"
    status, lines = low_stock("--below", "6")
    assert (listed(lines), status) == ([("LOW-A", 5)], 1), f"with --below 6: {lines}"


def test_the_queries_do_not_grow_with_the_products():
    for number in range(2):
        product(f"LOW-{number:02d}", 1)
    with CaptureQueriesContext(connection) as few:
        low_stock("--below", "5")
    for number in range(2, 30):
        product(f"LOW-{number:02d}", 1)
    with CaptureQueriesContext(connection) as many:
        status, lines = low_stock("--below", "5")
    assert len(listed(lines)) == 30, f"expected 30 product lines: {lines}"
    assert len(many) == len(few) <= 2, (
        f"2 low products cost {len(few)} queries and 30 cost {len(many)}: one query per "
        "product is the N+1 of exercise 2. Read the stock and its product in one query "
        "(select_related, or a query on StockLevel that follows the product):\n"
        + "\n".join(query["sql"] for query in many.captured_queries[:4])
    )
