"""Query counts of the hot paths (every checkout reserves; the gateway asks availability):
an N+1 here fails a test instead of a load run."""

import pytest

from inventory import stock

from .conftest import stock_level

pytestmark = pytest.mark.django_db


def test_availability_is_one_query_however_many_products(django_assert_num_queries):
    for product_id in range(1, 21):
        stock_level(product_id, 5)

    with django_assert_num_queries(1):
        stock.availability(product_ids=range(1, 31))


@pytest.mark.parametrize("products", [1, 5])
def test_reserve_costs_one_update_per_product_and_nothing_per_line(
    products, django_assert_num_queries
):
    for product_id in range(1, products + 1):
        stock_level(product_id, 5)
    lines = [(product_id, 1) for product_id in range(1, products + 1)] * 3

    # savepoint, look the id up, claim it, lock the rows, one update per product, the
    # lines in one insert, release the savepoint
    with django_assert_num_queries(6 + products):
        stock.reserve(reservation_id="r-1", lines=lines)
