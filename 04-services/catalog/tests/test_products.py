"""The catalog's hot reads cost a fixed number of queries, whatever the number of products:
an N+1 (a query per product's category, say) fails here."""

import pytest

from catalog import products

from .conftest import make_product

pytestmark = pytest.mark.django_db


def test_a_page_costs_two_queries_whatever_its_size(django_assert_num_queries):
    for _ in range(30):
        make_product()

    with django_assert_num_queries(2):  # the page's rows, then the count
        page = products.search(page_size=30)

    assert len(page.products) == 30


def test_a_batch_costs_one_query_whatever_its_size(django_assert_num_queries):
    ids = [make_product().id for _ in range(30)]

    with django_assert_num_queries(1):
        found = products.get_many(product_ids=ids)

    assert [product.id for product in found] == ids
