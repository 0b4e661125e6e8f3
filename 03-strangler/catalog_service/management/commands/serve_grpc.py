"""`python -m catalog_service serve_grpc`: serve shop.catalog.v1 until SIGTERM or Ctrl-C.

On either signal it first reports NOT_SERVING on the health service (so a caller that checks
health stops choosing this server), then stops taking calls and gives the ones in flight 5
seconds to finish: inside honcho's grace period, after which honcho would kill it.
"""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from grpc_health.v1 import health
from kernel import metrics, telemetry

from catalog_service.grpc_server import SERVICE_NAME, build_server

logger = logging.getLogger("catalog_service.grpc")

GRACE_SECONDS = 5


class Command(BaseCommand):
    help = "Serve the catalog's gRPC API (shop.catalog.v1.CatalogService)."
    requires_system_checks = []  # a server, not a schema change: start fast

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--address",
            default=settings.CATALOG_GRPC_ADDRESS,
            help="host:port to listen on (default: %(default)s, i.e. SHOP_HOST:SHOP_PORT+21)",
        )

    def handle(self, *args, address: str, **options) -> None:
        telemetry.setup("catalog-grpc")  # before the server is built: it adds its interceptor
        health_servicer = health.HealthServicer()
        try:
            server, port = build_server(address, health_servicer=health_servicer)
        except RuntimeError as error:  # gRPC's "Failed to bind"
            raise CommandError(f"serve_grpc: cannot listen on {address}: {error}") from error
        host = address.rsplit(":", 1)[0]
        stop = threading.Event()

        def on_signal(signum: int, frame) -> None:
            health_servicer.enter_graceful_shutdown()  # NOT_SERVING, from now on
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        server.start()
        metrics.serve()
        logger.info("event=grpc_serving address=%s:%d service=%s", host, port, SERVICE_NAME)
        stop.wait()
        logger.info("event=grpc_stopping grace=%ds", GRACE_SECONDS)
        server.stop(grace=GRACE_SECONDS).wait()
        logger.info("event=grpc_stopped")
