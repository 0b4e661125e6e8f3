"""`python -m catalog_service sync_catalog`: the catalog-sync process of the Procfile.

Applies the monolith's `catalog.product_changed` events to this service's database
(catalog_service/sync.py), so that the copy stays in step while staff writes still land in
the monolith (SHOP_CATALOG_BACKEND=local). With the writes on gRPC it has nothing to do.
"""

from django.core.management.base import BaseCommand
from kernel.consumer import run_until_stopped

from catalog_service import sync


class Command(BaseCommand):
    help = "Apply the monolith's catalog events to the service's catalog, until stopped."

    def handle(self, *args, **options):
        run_until_stopped(
            process=sync.CONSUMER,
            queue=sync.queue(),
            handler=sync.handle,
            housekeeping=sync.forget_old_events,
        )
