"""Contract of the public catalog: product list, pagination, filters, detail and shape."""

import math
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from support import PAGE_KEYS, Shop, assert_error, assert_product, expect, unique

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def list_products(client: httpx.Client, **params: object) -> dict:
    page = expect(client.get("/api/products/", params=params), 200)
    assert isinstance(page, dict) and set(page) == PAGE_KEYS, f"page: {page}"
    assert isinstance(page["count"], int) and isinstance(page["results"], list)
    return page


def test_first_page_has_twenty_products_and_links_only_forward(client: httpx.Client) -> None:
    page = list_products(client)

    assert page["count"] >= 200, "the demo catalog has at least 200 products"
    assert len(page["results"]) == PAGE_SIZE
    assert page["previous"] is None
    assert isinstance(page["next"], str)
    assert parse_qs(urlsplit(page["next"]).query).get("page") == ["2"]


def test_products_are_ordered_by_id_across_pages(client: httpx.Client) -> None:
    first = list_products(client)
    second = expect(client.get(first["next"]), 200)

    ids = [product["id"] for product in first["results"] + second["results"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert isinstance(second["previous"], str)


def test_seeded_catalog_starts_with_product_1_book_bk_0001(client: httpx.Client) -> None:
    first = list_products(client)["results"][0]

    assert (first["id"], first["sku"], first["category"]) == (1, "BK-0001", "books")


def test_every_listed_product_has_the_product_shape(client: httpx.Client) -> None:
    for product in list_products(client, page_size=MAX_PAGE_SIZE)["results"]:
        assert_product(product)


def test_page_size_chooses_the_page_length(client: httpx.Client) -> None:
    assert len(list_products(client, page_size=5)["results"]) == 5


def test_page_size_above_100_is_capped_at_100(client: httpx.Client) -> None:
    page = list_products(client, page_size=1000)

    assert len(page["results"]) == MAX_PAGE_SIZE


def test_last_page_links_only_backward(client: httpx.Client) -> None:
    count = list_products(client)["count"]
    last = list_products(client, page=math.ceil(count / PAGE_SIZE))

    assert last["next"] is None
    assert isinstance(last["previous"], str)
    assert 1 <= len(last["results"]) <= PAGE_SIZE


def test_page_past_the_last_one_is_not_found(client: httpx.Client) -> None:
    count = list_products(client)["count"]
    past_the_end = math.ceil(count / PAGE_SIZE) + 1

    assert_error(client.get("/api/products/", params={"page": past_the_end}), 404, "not_found")


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5"])
def test_page_that_is_not_a_positive_integer_is_not_found(client: httpx.Client, page: str) -> None:
    assert_error(client.get("/api/products/", params={"page": page}), 404, "not_found")


def test_first_page_of_an_empty_result_is_ok_and_empty(client: httpx.Client) -> None:
    page = list_products(client, q=unique("nothing-matches-"))

    assert page == {"count": 0, "next": None, "previous": None, "results": []}


def test_search_matches_the_name_case_insensitively(client: httpx.Client, shop: Shop) -> None:
    token = unique("Quokka")
    product = shop.create_product(name=f"Reading Lamp {token}")

    for query in (token.lower(), token.upper()):
        page = list_products(client, q=query)
        assert [found["id"] for found in page["results"]] == [product["id"]], query


def test_search_matches_the_description(client: httpx.Client, shop: Shop) -> None:
    token = unique("wombat")
    product = shop.create_product(description=f"Comes with a {token.upper()} sticker.")

    page = list_products(client, q=token)

    assert [found["id"] for found in page["results"]] == [product["id"]]


def test_category_filter_lists_only_that_category(client: httpx.Client) -> None:
    page = list_products(client, category="books")

    assert page["results"], "the demo catalog has books"
    assert {product["category"] for product in page["results"]} == {"books"}
    assert page["results"][0]["id"] == 1


def test_new_category_slug_creates_a_filterable_category(client: httpx.Client, shop: Shop) -> None:
    category = unique("contract-category-")
    product = shop.create_product(category=category)

    page = list_products(client, category=category)

    assert page["count"] == 1
    assert page["results"] == [product]


def test_product_detail_shows_one_product(client: httpx.Client) -> None:
    product = expect(client.get("/api/products/1/"), 200)

    assert_product(product)
    assert (product["id"], product["sku"], product["category"]) == (1, "BK-0001", "books")


def test_detail_matches_the_product_in_the_list(client: httpx.Client) -> None:
    listed = list_products(client)["results"][3]

    assert expect(client.get(f"/api/products/{listed['id']}/"), 200) == listed


def test_seeded_catalog_has_limited_products(client: httpx.Client) -> None:
    page = list_products(client, category="limited", page_size=MAX_PAGE_SIZE)

    assert any(product["sku"].startswith("LTD-") for product in page["results"])


def test_seeded_catalog_has_at_least_five_categories(client: httpx.Client) -> None:
    page = list_products(client, page_size=MAX_PAGE_SIZE, page=1)
    categories = {product["category"] for product in page["results"]}
    page_two = list_products(client, page_size=MAX_PAGE_SIZE, page=2)
    categories |= {product["category"] for product in page_two["results"]}

    assert len(categories) >= 5, categories


@pytest.mark.parametrize("product_id", ["999999999", "abc"])
def test_unknown_product_is_not_found(client: httpx.Client, product_id: str) -> None:
    assert_error(client.get(f"/api/products/{product_id}/"), 404, "not_found")
