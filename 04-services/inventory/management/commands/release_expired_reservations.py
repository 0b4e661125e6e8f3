"""`python -m inventory release_expired_reservations`: give back the stock of reservations
nobody committed in time (a checkout abandoned half-way, an orders service that died).

Once, or with `--loop` every `--interval` seconds until SIGTERM or Ctrl-C: the Procfile's
reservation-expiry process. A database that is down (restarting) is logged and tried again
at the next round; the loop ends within one interval of the signal, after the sweep it is in.
"""

import logging
import signal
import threading

from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from inventory import stock

logger = logging.getLogger("inventory.expiry")


class Command(BaseCommand):
    help = "Release the held reservations that are past their expiry (once, or --loop)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", action="store_true", help="sweep until stopped")
        parser.add_argument(
            "--interval",
            type=float,
            default=10.0,
            help="seconds between two sweeps with --loop (default 10)",
        )

    def handle(self, *args, loop: bool, interval: float, **options) -> None:
        if not loop:
            self._report(stock.release_expired())
            return
        stop = threading.Event()
        # honcho stops a process with SIGTERM: the wait below returns at once.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        logger.info("event=expiry_started interval=%.1fs", interval)
        while not stop.is_set():
            try:
                released = stock.release_expired()
            except DatabaseError as error:
                logger.warning("event=expiry_sweep_failed error=%s", error)
            else:
                if released:  # a quiet log when there was nothing to do
                    self._report(released)
            close_old_connections()  # a long-lived process: drop a connection gone bad
            stop.wait(interval)
        logger.info("event=expiry_stopped")

    def _report(self, released: int) -> None:
        self.stdout.write(f"release_expired_reservations: {released} released")
