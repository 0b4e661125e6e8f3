"""`python -m inventory release_expired_reservations`: give back the stock of reservations
nobody committed in time (a checkout abandoned half-way, an orders service that died).

Once, or with `--loop` every `--interval` seconds until SIGTERM or Ctrl-C: the Procfile's
reservation-expiry process. A database that is down (restarting) is logged and tried again
at the next round; the loop ends within one interval of the signal, after the sweep it is in.
"""

from chassis import metrics, telemetry
from chassis.periodic import run_until_stopped
from django.core.management.base import BaseCommand

from inventory import stock


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
        telemetry.setup("reservation-expiry")
        if not loop:
            self._report(stock.release_expired())
            return
        metrics.serve()
        run_until_stopped(self._sweep, interval=interval, name="expiry")

    def _sweep(self) -> None:
        released = stock.release_expired()
        if released:  # a quiet log when there was nothing to do
            self._report(released)

    def _report(self, released: int) -> None:
        self.stdout.write(f"release_expired_reservations: {released} released")
