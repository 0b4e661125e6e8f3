"""`python -m orders recover_sagas [--loop]`: end the checkout sagas a crash left half-way.

Once, or (--loop, the Procfile's saga-recovery process) every --interval seconds until
SIGTERM or Ctrl-C, which end it after the round in progress. A saga is picked up when it is
unfinished and has not moved for --older-than seconds: longer than any live request takes
between two of its steps (each remote call has a deadline of a few seconds), so the
recovery does not race a checkout that is merely slow.
"""

from chassis import metrics, telemetry
from chassis.periodic import run_until_stopped
from django.core.management.base import BaseCommand

from orders.metrics import SagaStates
from orders.sagas import recover_sagas, summary


class Command(BaseCommand):
    help = "Drive unfinished checkout sagas to their end, forward or back."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep going until stopped")
        parser.add_argument(
            "--interval",
            type=float,
            default=5.0,
            help="with --loop: seconds between two rounds (default %(default)s)",
        )
        parser.add_argument(
            "--older-than",
            type=float,
            default=30.0,
            help="take sagas that have not moved for this many seconds (default %(default)s)",
        )

    def handle(self, *args, loop: bool, interval: float, older_than: float, **options) -> None:
        telemetry.setup("saga-recovery")
        if not loop:
            outcomes = recover_sagas(older_than_seconds=older_than)
            self.stdout.write(f"recover_sagas: {summary(outcomes) or 'nothing to recover'}")
            return
        metrics.serve(SagaStates())
        run_until_stopped(
            lambda: recover_sagas(older_than_seconds=older_than),
            interval=interval,
            name="saga_recovery",
        )
