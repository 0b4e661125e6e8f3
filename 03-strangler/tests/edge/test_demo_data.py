"""The demo catalog of API.md, computed in Python: no database needed to check it."""

from collections import Counter

from edge.demo_data import AMPLE_STOCK, LIMITED_STOCK, DemoProduct, demo_products


def test_the_demo_catalog_has_246_products_with_ids_1_to_246():
    products = demo_products()

    assert len(products) == 246
    assert [product.id for product in products] == list(range(1, 247))


def test_demo_skus_are_unique():
    skus = [product.sku for product in demo_products()]

    assert len(set(skus)) == len(skus)


def test_each_regular_category_has_40_products_with_ample_stock():
    regular = [product for product in demo_products() if product.category != "limited"]

    assert Counter(product.category for product in regular) == {
        "books": 40,
        "electronics": 40,
        "kitchen": 40,
        "garden": 40,
        "toys": 40,
        "sports": 40,
    }
    assert all(product.stock == AMPLE_STOCK >= 100_000 for product in regular)


def test_limited_products_are_ltd_skus_with_stock_3():
    limited = [product for product in demo_products() if product.category == "limited"]

    assert [product.sku for product in limited] == [f"LTD-{n:04d}" for n in range(1, 7)]
    assert [product.id for product in limited] == list(range(241, 247))
    assert all(product.stock == LIMITED_STOCK == 3 for product in limited)


def test_demo_prices_are_positive_cents():
    assert all(isinstance(p.price_cents, int) and p.price_cents > 0 for p in demo_products())


def test_the_demo_catalog_is_deterministic():
    # Every stage seeds this same catalog, so the values are pinned here, not just compared
    # with a second call: a change to them breaks every stage's demo and load test.
    products = demo_products()

    assert products == demo_products()
    assert products[0] == DemoProduct(
        id=1,
        sku="BK-0001",
        name="Classic Guide",
        description="A classic guide from our books range.",
        category="books",
        price_cents=7299,
        stock=AMPLE_STOCK,
    )
    assert products[-1] == DemoProduct(
        id=246,
        sku="LTD-0006",
        name="Limited Edition Sneaker",
        description="A numbered sneaker: only three were ever made.",
        category="limited",
        price_cents=11299,
        stock=LIMITED_STOCK,
    )
