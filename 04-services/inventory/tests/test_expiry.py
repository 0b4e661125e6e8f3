"""Expiry: a held reservation nobody committed in time gives its stock back, through the
sweep (`stock.release_expired`) and its command, the reservation-expiry process."""

import io
import os
import signal
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from inventory import stock
from inventory.models import Reservation

from .conftest import stock_level, stock_of

Status = Reservation.Status


def expired_reservation(reservation_id: str) -> None:
    """5 of product 1's 10 units, held for a minute, a minute and a second ago."""
    stock_level(1, 10)
    stock.reserve(
        reservation_id=reservation_id,
        lines=[(1, 5)],
        hold_seconds=60,
        now=timezone.now() - timedelta(seconds=61),
    )


def status_of(reservation_id: str) -> str:
    return Reservation.objects.get(reservation_id=reservation_id).status


@pytest.mark.django_db
def test_the_sweep_releases_the_held_reservations_past_their_time_and_nothing_else():
    stock_level(1, 100)
    now = timezone.now()
    stock.reserve(reservation_id="expired", lines=[(1, 5)], hold_seconds=60, now=now)
    stock.reserve(reservation_id="on-time", lines=[(1, 3)], hold_seconds=60, now=now)
    stock.commit(reservation_id="on-time", now=now)
    stock.reserve(reservation_id="later", lines=[(1, 2)], hold_seconds=120, now=now)
    stock.reserve(reservation_id="released", lines=[(1, 1)], hold_seconds=60, now=now)
    stock.release(reservation_id="released")
    stock.release(reservation_id="tombstone")

    released = stock.release_expired(now=now + timedelta(seconds=60))

    assert released == 1
    assert {row.reservation_id: row.status for row in Reservation.objects.all()} == {
        "expired": Status.RELEASED,
        "on-time": Status.COMMITTED,
        "later": Status.HELD,
        "released": Status.RELEASED,
        "tombstone": Status.RELEASED,
    }
    assert stock_of(1) == 95  # 3 sold, 2 still held
    assert stock.release_expired(now=now + timedelta(seconds=60)) == 0


@pytest.mark.django_db
def test_a_commit_just_before_the_expiry_is_a_sale():
    stock_level(1, 10)
    now = timezone.now()
    stock.reserve(reservation_id="r-1", lines=[(1, 5)], hold_seconds=60, now=now)

    stock.commit(reservation_id="r-1", now=now + timedelta(seconds=59))

    assert stock.release_expired(now=now + timedelta(seconds=61)) == 0
    assert (status_of("r-1"), stock_of(1)) == (Status.COMMITTED, 5)


@pytest.mark.django_db
def test_the_command_sweeps_once_and_says_how_many_it_released():
    expired_reservation("r-1")
    out = io.StringIO()

    call_command("release_expired_reservations", stdout=out)

    assert out.getvalue() == "release_expired_reservations: 1 released\n"
    assert (status_of("r-1"), stock_of(1)) == (Status.RELEASED, 10)


@pytest.fixture
def restore_signal_handlers():
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


# transaction=True: the loop closes spent connections between sweeps, as a process must.
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("restore_signal_handlers")
def test_the_looping_command_keeps_sweeping_until_sigterm_stops_it():
    expired_reservation("r-1")
    out = io.StringIO()
    # The loop installs its own handler; if it did not, SIGTERM would end the test run.
    terminate = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGTERM))
    terminate.start()

    call_command("release_expired_reservations", "--loop", "--interval", "0.05", stdout=out)

    terminate.join()
    assert out.getvalue() == "release_expired_reservations: 1 released\n"
    assert (status_of("r-1"), stock_of(1)) == (Status.RELEASED, 10)
