"""Seed the demo catalog of API.md; running it again changes nothing."""

from django.core.management.base import BaseCommand
from django.core.management.color import no_style
from django.db import connection, transaction

from shop.demo_data import demo_products
from shop.models import Category, Product, StockLevel


class Command(BaseCommand):
    help = "Create the demo products (fixed ids and skus) that are missing; keep the others."

    @transaction.atomic
    def handle(self, *args, **options):
        products = demo_products()
        categories = {
            slug: Category.objects.get_or_create(slug=slug)[0]
            for slug in dict.fromkeys(product.category for product in products)
        }
        existing = set(Product.objects.values_list("id", flat=True))
        missing = [product for product in products if product.id not in existing]
        Product.objects.bulk_create(
            Product(
                id=product.id,
                sku=product.sku,
                name=product.name,
                description=product.description,
                category=categories[product.category],
                price_cents=product.price_cents,
            )
            for product in missing
        )
        StockLevel.objects.bulk_create(
            StockLevel(product_id=product.id, available=product.stock) for product in missing
        )
        # Rows were inserted with explicit ids: move PostgreSQL's id sequence past them, so the
        # next product created through the API does not collide (a no-op on SQLite).
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), [Product, Category]):
                cursor.execute(statement)
        self.stdout.write(
            f"seed_demo: {len(missing)} products created, "
            f"{len(products) - len(missing)} already there, {len(categories)} categories"
        )
