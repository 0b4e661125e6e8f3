"""Seed the demo catalog of API.md, products and their stock; running it again changes nothing."""

from catalog import api as catalog_api
from django.core.management.base import BaseCommand
from django.db import transaction
from inventory import api as inventory_api

from edge.demo_data import demo_products


class Command(BaseCommand):
    help = "Create the demo products (fixed ids and skus) and their stock that are missing."

    @transaction.atomic
    def handle(self, *args, **options):
        products = demo_products()
        created = catalog_api.products_ensure(products=products)
        stocked = inventory_api.stock_ensure(
            levels={product.id: product.stock for product in products}
        )
        categories = len({product.category for product in products})
        self.stdout.write(
            f"seed_demo: {created} products created, {len(products) - created} already there, "
            f"{categories} categories, {stocked} stock levels created"
        )
