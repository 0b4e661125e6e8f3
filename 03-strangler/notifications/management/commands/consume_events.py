"""`python manage.py consume_events`: the notifications process of the Procfile."""

from django.core.management.base import BaseCommand
from kernel.consumer import run_until_stopped

from notifications import handlers


class Command(BaseCommand):
    help = "Send the order emails, in reaction to order events from the broker, until stopped."

    def handle(self, *args, **options):
        run_until_stopped(
            process="notifications",
            queue=handlers.queue(),
            handler=handlers.handle,
            housekeeping=handlers.forget_old_events,
        )
