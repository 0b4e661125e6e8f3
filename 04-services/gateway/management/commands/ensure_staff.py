"""Create (or reset) the development staff user; refuses to run in production.

The gateway owns users and tokens at stage 04: `python -m gateway release` runs this
(settings.SHOP_RELEASE_COMMANDS) everywhere but in production.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the staff user named by SHOP_STAFF_USER / SHOP_STAFF_PASSWORD (development)."

    def handle(self, *args, **options):
        if settings.SHOP_ENV == "production":
            raise CommandError("ensure_staff creates a well-known login: not in production.")
        user, created = get_user_model().objects.get_or_create(
            username=settings.SHOP_STAFF_USER, defaults={"is_staff": True}
        )
        user.is_staff = True
        user.set_password(settings.SHOP_STAFF_PASSWORD)
        user.save()
        self.stdout.write(
            f"ensure_staff: {'created' if created else 'updated'} staff user "
            f"{settings.SHOP_STAFF_USER!r}"
        )
