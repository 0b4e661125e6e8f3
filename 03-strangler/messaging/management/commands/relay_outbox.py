"""`python manage.py relay_outbox`: the relay process of the Procfile; Ctrl-C or SIGTERM stop it."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from kernel import broker, telemetry
from kernel.metrics import QueueDepth, serve

from messaging import relay
from messaging.metrics import OutboxLag


class Command(BaseCommand):
    help = "Publish the outbox's waiting events to the broker, in order, until stopped."

    def add_arguments(self, parser):
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=0.2,
            help="seconds between two looks at an empty outbox (default 0.2)",
        )

    def handle(self, *args, **options):
        telemetry.setup("relay")
        stop = threading.Event()
        # honcho stops a process with SIGTERM; the loop waits on `stop`, so it ends within
        # one poll (or one backoff sleep), after finishing the batch it is publishing.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        # The outbox's lag, and every subscriber's queue: a consumer that is down serves no
        # metrics of its own, and its queue is where its lag piles up.
        subscribers = [broker.subscribed_queue(name) for name in settings.SHOP_EVENT_SUBSCRIPTIONS]
        serve(OutboxLag(), QueueDepth(*subscribers))
        relay.run(stop=stop, poll_interval=options["poll_interval"])
