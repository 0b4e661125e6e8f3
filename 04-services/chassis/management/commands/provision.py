"""`python -m <service> provision`: what a service needs before it starts, in one command.

Its database (ensure_database), its tables (migrate), then the service's own one-off steps,
settings.SHOP_PROVISION_COMMANDS (the demo data: seed_catalog, seed_stock; the staff user).
With mutual TLS on (settings.SHOP_GRPC_TLS_DIR), the stage's certificates are made first if
missing (chassis.certificates), so the services starting next agree on one authority.
Each step is idempotent, so the Procfile's `release` line runs this at every start, as
`make run` and compose do. (Named `provision`, not `release`, so it is not confused with
inventory's Release RPC and the saga's release step.)
"""

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from chassis import certificates


class Command(BaseCommand):
    help = "Create this service's database if needed, migrate it, run its provisioning steps."
    requires_system_checks = []  # the checks may need the very database this creates

    def handle(self, *args, **options) -> None:
        if settings.SHOP_GRPC_TLS_DIR:
            certificates.ensure(Path(settings.SHOP_GRPC_TLS_DIR))
        call_command("ensure_database", stdout=self.stdout, stderr=self.stderr)
        call_command("migrate", interactive=False, verbosity=0, stdout=self.stdout)
        self.stdout.write(f"provision: {settings.SERVICE}: migrated")
        for command in getattr(settings, "SHOP_PROVISION_COMMANDS", []):
            call_command(command, stdout=self.stdout, stderr=self.stderr)
