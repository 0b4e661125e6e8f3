"""`python -m catalog seed_catalog`: the demo catalog of API.md, with its fixed ids.

Part of the service's release (settings.SHOP_PROVISION_COMMANDS), so it runs at every start:
it creates the demo products that are missing and leaves every existing id alone, including
one a member of staff has edited since. The inventory service seeds the stock of the same
ids from the same list (chassis.demo_data), which is how the two databases agree without
ever being joined.
"""

from chassis.demo_data import demo_products
from django.core.management.base import BaseCommand

from catalog import products


class Command(BaseCommand):
    help = "Create the demo products that are missing, with their fixed ids."

    def handle(self, *args, **options) -> None:
        demo = demo_products()
        created = products.ensure(products=demo)
        self.stdout.write(
            f"seed_catalog: created {created} demo products, "
            f"{len(demo) - created} were there already"
        )
