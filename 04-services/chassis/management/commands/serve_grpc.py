"""`python -m <service> serve_grpc`: serve the service's gRPC API until SIGTERM or Ctrl-C.

The servicers come from settings.SHOP_GRPC_SERVICERS (a `register(server)` function), the
address from settings.SHOP_GRPC_ADDRESS (SHOP_HOST, and SHOP_PORT + the service's offset).
On either signal it first reports NOT_SERVING on the health service (so a caller that checks
health stops choosing this server), then stops taking calls and gives the ones in flight 5
seconds to finish: inside honcho's grace period, after which honcho would kill it.

`--consume-events` also consumes the service's queue of events in a thread of this process
(settings.SHOP_EVENT_HANDLER handles each; the queue is the service's name in
SHOP_EVENT_SUBSCRIPTIONS), and `--relay-outbox` publishes its outbox in another (as a
`relay_outbox` process does): how the inventory and the payments services take part in a
cancellation by choreography (orders/choreography.py) without a process more each.
"""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string
from grpc_health.v1 import health

from chassis import metrics, relay, telemetry
from chassis.consumer import consume_in_background
from chassis.grpc_server import build_server

logger = logging.getLogger("chassis.grpc")

GRACE_SECONDS = 5


class Command(BaseCommand):
    help = "Serve this service's gRPC API, with health and reflection."
    requires_system_checks = []  # a server, not a schema change: start fast

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--address",
            default=settings.SHOP_GRPC_ADDRESS,
            help="host:port to listen on (default: %(default)s)",
        )
        parser.add_argument(
            "--consume-events",
            action="store_true",
            help="also handle this service's events (SHOP_EVENT_HANDLER), in a thread",
        )
        parser.add_argument(
            "--relay-outbox",
            action="store_true",
            help="also publish this service's outbox to the broker, in a thread",
        )

    def handle(
        self, *args, address: str, consume_events: bool, relay_outbox: bool, **options
    ) -> None:
        if not settings.SHOP_GRPC_SERVICERS:
            raise CommandError(f"{settings.SERVICE} has no gRPC API (SHOP_GRPC_SERVICERS)")
        telemetry.setup(settings.SERVICE)  # before the server is built: it adds its interceptor
        register = import_string(settings.SHOP_GRPC_SERVICERS)
        health_servicer = health.HealthServicer()
        try:
            server, port = build_server(
                address,
                register=register,
                service_names=register.service_names,
                max_workers=settings.SHOP_GRPC_WORKERS,
                health_servicer=health_servicer,
            )
        except RuntimeError as error:  # gRPC's "Failed to bind"
            raise CommandError(f"serve_grpc: cannot listen on {address}: {error}") from error
        stop = threading.Event()

        def on_signal(signum: int, frame) -> None:
            health_servicer.enter_graceful_shutdown()  # NOT_SERVING, from now on
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        background = self.start_background(stop, consume=consume_events, publish=relay_outbox)
        server.start()
        metrics.serve()
        host = address.rsplit(":", 1)[0]
        logger.info("event=grpc_serving service=%s address=%s:%d", settings.SERVICE, host, port)
        stop.wait()
        logger.info("event=grpc_stopping grace=%ds", GRACE_SECONDS)
        server.stop(grace=GRACE_SECONDS).wait()
        for thread in background:  # each ends within a second of `stop`
            thread.join(timeout=GRACE_SECONDS)
        logger.info("event=grpc_stopped")

    def start_background(
        self, stop: threading.Event, *, consume: bool, publish: bool
    ) -> list[threading.Thread]:
        threads = []
        if consume:
            if not settings.SHOP_EVENT_HANDLER:
                raise CommandError(f"{settings.SERVICE} handles no events (SHOP_EVENT_HANDLER)")
            handler = import_string(settings.SHOP_EVENT_HANDLER)
            threads.append(
                consume_in_background(
                    consumer=settings.SERVICE,
                    handler=handler,
                    stop=stop,
                    max_attempts=settings.SHOP_EVENT_MAX_ATTEMPTS,
                )
            )
        if publish:
            threads.append(
                threading.Thread(target=relay.run, kwargs={"stop": stop}, name="relay", daemon=True)
            )
            threads[-1].start()
        return threads
