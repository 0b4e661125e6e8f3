"""The loop of a background process that does one round of work every few seconds (the
saga recovery, the reservation expiry): until SIGTERM or Ctrl-C, which honcho and Docker send
to stop it, and which end it within one interval, after the round in progress. A database
that is down (restarting) is logged and tried again next round, never a crash."""

import logging
import signal
import threading
from collections.abc import Callable

from django.db import DatabaseError, close_old_connections

logger = logging.getLogger("chassis.periodic")


def run_until_stopped(work: Callable[[], object], *, interval: float, name: str) -> None:
    """Call `work()` every `interval` seconds until a stop signal; `name` goes in the logs."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logger.info("event=%s_started interval=%.1fs", name, interval)
    while not stop.is_set():
        try:
            work()
        except DatabaseError as error:
            logger.warning("event=%s_failed error=%s", name, error)
        close_old_connections()  # a long-lived process: drop a connection gone bad
        stop.wait(interval)
    logger.info("event=%s_stopped", name)
