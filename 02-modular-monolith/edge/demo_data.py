"""The demo catalog of API.md: the same ids, skus and prices at every stage.

Products 1-240: 40 per category (books, electronics, kitchen, garden, toys, sports), sku
`<PREFIX>-<NNNN>`, stock 1,000,000 each. Products 241-246: `LTD-0001`..`LTD-0006` in
`limited`, stock 3 each, to show `out_of_stock`. Everything is computed, nothing random.
"""

from dataclasses import dataclass

from catalog.api import Product

AMPLE_STOCK = 1_000_000
LIMITED_STOCK = 3

ADJECTIVES = ("Classic", "Compact", "Deluxe", "Everyday", "Handy", "Modern", "Rustic", "Smart")
CATEGORIES = (
    # slug, sku prefix, five nouns (x eight adjectives = forty products)
    ("books", "BK", ("Guide", "Novel", "Cookbook", "Atlas", "Journal")),
    ("electronics", "EL", ("Lamp", "Speaker", "Charger", "Headphones", "Radio")),
    ("kitchen", "KI", ("Kettle", "Knife", "Teapot", "Skillet", "Grinder")),
    ("garden", "GA", ("Shovel", "Planter", "Hose", "Rake", "Lantern")),
    ("toys", "TO", ("Puzzle", "Robot", "Kite", "Train", "Blocks")),
    ("sports", "SP", ("Ball", "Racket", "Bottle", "Backpack", "Mat")),
)
LIMITED = ("limited", "LTD", ("Print", "Vinyl", "Watch", "Figure", "Poster", "Sneaker"))


@dataclass(frozen=True)
class DemoProduct(Product):
    """A catalog product with the stock the demo gives it."""

    stock: int


def _price_cents(product_id: int) -> int:
    """A spread of plausible prices between 4.99 and 99.99, always ending in 9."""
    return 499 + (product_id * 733) % 95 * 100


def demo_products() -> list[DemoProduct]:
    products = []
    product_id = 0
    for slug, prefix, nouns in CATEGORIES:
        for index in range(40):
            product_id += 1
            adjective, noun = ADJECTIVES[index % 8], nouns[index // 8]
            products.append(
                DemoProduct(
                    id=product_id,
                    sku=f"{prefix}-{index + 1:04d}",
                    name=f"{adjective} {noun}",
                    description=f"A {adjective.lower()} {noun.lower()} from our {slug} range.",
                    category=slug,
                    price_cents=_price_cents(product_id),
                    stock=AMPLE_STOCK,
                )
            )
    slug, prefix, nouns = LIMITED
    for index, noun in enumerate(nouns):
        product_id += 1
        products.append(
            DemoProduct(
                id=product_id,
                sku=f"{prefix}-{index + 1:04d}",
                name=f"Limited Edition {noun}",
                description=f"A numbered {noun.lower()}: only three were ever made.",
                category=slug,
                price_cents=_price_cents(product_id) + 10_000,
                stock=LIMITED_STOCK,
            )
        )
    return products
