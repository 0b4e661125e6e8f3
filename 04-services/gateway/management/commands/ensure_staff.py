"""Create the staff user when it is missing; never touch an existing one.

The gateway owns users and tokens at stage 04: `python -m gateway provision` runs this
(settings.SHOP_PROVISION_COMMANDS) at every start. It only ever creates: a password changed
since (`python -m gateway changepassword staff`) stays changed across restarts. In production
it creates the user only when SHOP_STAFF_PASSWORD is set, never with the development one.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the staff user SHOP_STAFF_USER with SHOP_STAFF_PASSWORD, if it is missing."

    def handle(self, *args, **options):
        username = settings.SHOP_STAFF_USER
        users = get_user_model().objects
        if users.filter(username=username).exists():
            self.stdout.write(f"ensure_staff: staff user {username!r} exists, left as it is")
            return
        if not settings.SHOP_STAFF_PASSWORD:
            self.stdout.write(
                f"ensure_staff: no staff user {username!r}, and no SHOP_STAFF_PASSWORD to "
                "create it with: none created"
            )
            return
        users.create_user(username=username, password=settings.SHOP_STAFF_PASSWORD, is_staff=True)
        self.stdout.write(f"ensure_staff: created staff user {username!r}")
