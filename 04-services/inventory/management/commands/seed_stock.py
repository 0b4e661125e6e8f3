"""`python -m inventory seed_stock`: the demo stock, for the demo products of every stage.

The same ids and units as the catalog service seeds (chassis.demo_data): 1,000,000 of each
product, 3 of each `LTD-` product. Idempotent: a product that has a stock level already keeps
it (a restart must not refill what the demo sold), so the release step runs it every time.
"""

from chassis.demo_data import demo_products
from django.core.management.base import BaseCommand

from inventory import stock


class Command(BaseCommand):
    help = "Give every demo product its demo stock, unless it has a stock level already."

    def handle(self, *args, **options) -> None:
        levels = {product.id: product.stock for product in demo_products()}
        created = stock.stock_ensure(levels=levels)
        self.stdout.write(
            f"seed_stock: {created} stock levels created, "
            f"{len(levels) - created} already there ({len(levels)} demo products)"
        )
