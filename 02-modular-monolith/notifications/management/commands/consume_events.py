"""`python manage.py consume_events`: the notifications process of the Procfile."""

import signal

from django.core.management.base import BaseCommand
from kernel import telemetry
from messaging import broker, metrics
from messaging.consumer import EventConsumer

from notifications import handlers


class Command(BaseCommand):
    help = "Send the order emails, in reaction to order events from the broker, until stopped."

    def handle(self, *args, **options):
        telemetry.setup("notifications")
        metrics.serve(metrics.QueueDepth(handlers.queue()))
        with broker.connection() as connection:
            consumer = EventConsumer(
                connection=connection,
                queue=handlers.queue(),
                handler=handlers.handle,
                housekeeping=handlers.forget_old_events,
            )

            # honcho stops a process with SIGTERM: finish the message in hand, then leave
            # (kombu's loop looks at should_stop at least once a second).
            def stop(*_) -> None:
                consumer.should_stop = True

            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, stop)
            consumer.run()
