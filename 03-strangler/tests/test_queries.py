"""Query counts of the hot reads: a constant number, whatever the size of the page, cart or
order. An N+1 (one more query per row, e.g. one catalog call per cart line) fails these tests.

The numbers are exact, so a change that adds a query shows up here and has to be argued for.
"""

import pytest

PRODUCT_LIST_QUERIES = 2  # COUNT(*) for the page links, then the page's rows
PRODUCT_DETAIL_QUERIES = 1  # one row, its category joined in
# The cart, its items, then their products in one catalog call (stage 01 joined them in: a
# join cannot cross a context, so the boundary costs one query here, whatever the cart size).
CART_DETAIL_QUERIES = 3
ORDER_DETAIL_QUERIES = 2  # the order, then its lines; the lines carry their product snapshot


@pytest.mark.parametrize("page_size", [20, 100])
def test_the_product_list_costs_the_same_whatever_the_page_size(
    api_client, demo_catalog, django_assert_num_queries, page_size
):
    with django_assert_num_queries(PRODUCT_LIST_QUERIES):
        response = api_client.get("/api/products/", {"page_size": page_size})

    assert len(response.json()["results"]) == page_size


def test_a_filtered_product_list_costs_the_same(
    api_client, demo_catalog, django_assert_num_queries
):
    with django_assert_num_queries(PRODUCT_LIST_QUERIES):
        response = api_client.get("/api/products/", {"q": "classic", "category": "kitchen"})

    assert response.json()["count"] == 5


def test_a_product_costs_one_query(api_client, demo_catalog, django_assert_num_queries):
    with django_assert_num_queries(PRODUCT_DETAIL_QUERIES):
        response = api_client.get("/api/products/1/")

    assert response.json()["category"] == "books"


@pytest.mark.parametrize("size", [1, 5])
def test_a_cart_costs_the_same_whatever_its_size(
    api_client, make_product, make_cart, django_assert_num_queries, size
):
    cart = make_cart([(make_product(), 1) for _ in range(size)])

    with django_assert_num_queries(CART_DETAIL_QUERIES):
        response = api_client.get(f"/api/carts/{cart.id}/")

    assert len(response.json()["items"]) == size


@pytest.mark.parametrize("size", [1, 5])
def test_an_order_costs_the_same_whatever_its_size(
    api_client, make_product, make_order, django_assert_num_queries, size
):
    order = make_order([(make_product(), 1) for _ in range(size)])

    with django_assert_num_queries(ORDER_DETAIL_QUERIES):
        response = api_client.get(f"/api/orders/{order.id}/")

    assert len(response.json()["items"]) == size
