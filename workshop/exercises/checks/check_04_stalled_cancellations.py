"""Check of exercise 04-stalled-cancellations: `python -m orders cancellations` lists the
cancellations by choreography still waiting for an answer (orders.models.Cancellation), oldest
first, each with the answers it waits for, then a summary; exit status 0 or 1.

The cancellations are rows of the test database, written as orders/choreography.py writes
them: asked for (requested_at), then answered by the inventory (stock_released_at) and the
payments service (payment_refunded_at), in either order, and completed once both are in.
"""

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError
from django.utils import timezone
from orders.models import Cancellation, Cart, Order

pytestmark = pytest.mark.django_db

SUMMARY = re.compile(r"^cancellations: (\d+) waiting, (\d+) completed$")


def a_cancellation(*, stock: bool, payment: bool, asked_seconds_ago: float = 120) -> Cancellation:
    """A cancellation asked for `asked_seconds_ago`, with the answers that came back (both:
    completed, as choreography.handle completes it)."""
    order = Order.objects.create(
        cart=Cart.objects.create(),
        email="ada@example.com",
        status=Order.Status.CANCELLED if stock and payment else Order.Status.CONFIRMED,
        total_cents=1250,
    )
    asked = timezone.now() - timedelta(seconds=asked_seconds_ago)
    cancellation = Cancellation.objects.create(order=order)
    answered = asked + timedelta(seconds=1)
    Cancellation.objects.filter(pk=cancellation.pk).update(
        requested_at=asked,
        stock_released_at=answered if stock else None,
        payment_refunded_at=answered if payment else None,
        completed_at=answered if stock and payment else None,
    )
    cancellation.refresh_from_db()
    return cancellation


def run_cancellations(*arguments: str) -> tuple[int, str]:
    """Run `python -m orders cancellations`: its exit status and what it wrote to stdout."""
    if "cancellations" not in get_commands():
        pytest.fail(
            "python -m orders cancellations does not exist yet: "
            "no orders/management/commands/cancellations.py"
        )
    stdout = io.StringIO()
    try:
        call_command("cancellations", *arguments, stdout=stdout, stderr=io.StringIO())
        status = 0
    except CommandError as error:  # Django's run_from_argv exits with its returncode
        status = error.returncode
    except SystemExit as exit:
        status = exit.code if isinstance(exit.code, int) else 1
    except Exception as error:  # noqa: BLE001 (any other error is the finding)
        pytest.fail(
            f"cancellations crashed with {type(error).__name__}: {error}; it must end with "
            "exit status 0 or 1 (CommandError(..., returncode=1) or sys.exit(1))"
        )
    return status, stdout.getvalue()


def cancellations(*arguments: str) -> tuple[int, list[dict[str, str]], tuple[int, int]]:
    """Run it: its exit status, its lines (as dicts of their key=value fields), and the
    summary's two numbers (waiting, completed)."""
    status, output = run_cancellations(*arguments)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    assert lines, "cancellations wrote nothing to standard output"
    listed = [
        dict(field.partition("=")[::2] for field in line.split())
        for line in lines
        if line.startswith("order_id=")
    ]
    match = SUMMARY.match(lines[-1])
    assert match, (
        f"the last line is {lines[-1]!r}; expected the summary "
        "'cancellations: <N> waiting, <M> completed'"
    )
    return status, listed, (int(match[1]), int(match[2]))


def line_of(cancellation: Cancellation, waiting_for: str) -> dict[str, str]:
    return {
        "order_id": str(cancellation.order_id),
        "requested_at": cancellation.requested_at.isoformat(),
        "waiting_for": waiting_for,
    }


def test_completed_cancellations_are_not_listed_and_the_exit_status_is_0():
    a_cancellation(stock=True, payment=True)
    a_cancellation(stock=True, payment=True)

    status, listed, summary = cancellations()

    assert listed == [], f"completed cancellations were listed: {listed}"
    assert summary == (0, 2), f"none waiting, two completed; the summary says {summary}"
    assert status == 0, f"nothing is waiting: exit status 0, not {status}"


def test_a_cancellation_is_listed_with_the_one_answer_it_still_waits_for():
    refunded = a_cancellation(stock=False, payment=True, asked_seconds_ago=300)
    released = a_cancellation(stock=True, payment=False, asked_seconds_ago=200)
    a_cancellation(stock=True, payment=True)

    status, listed, summary = cancellations()

    assert listed == [line_of(refunded, "stock"), line_of(released, "payment")], (
        "expected one line per cancellation still waiting, oldest first: the refunded one "
        f"waiting for the stock, the released one for the payment; got {listed}"
    )
    assert summary == (2, 1), f"two waiting, one completed; the summary says {summary}"
    assert status == 1, f"cancellations are waiting: exit status 1, not {status}"


def test_a_cancellation_with_no_answer_yet_waits_for_both():
    silent = a_cancellation(stock=False, payment=False)

    status, listed, summary = cancellations()

    assert listed == [line_of(silent, "stock,payment")], (
        "a cancellation neither service has answered waits for both: waiting_for=stock,payment "
        f"(both, in that order); got {listed}"
    )
    assert summary == (1, 0), summary
    assert status == 1, f"exit status 1, not {status}"


def test_older_than_leaves_out_the_cancellations_asked_for_recently():
    old = a_cancellation(stock=True, payment=False, asked_seconds_ago=600)
    a_cancellation(stock=True, payment=False, asked_seconds_ago=5)  # still on its way

    status, listed, summary = cancellations("--older-than", "60")

    assert listed == [line_of(old, "payment")], (
        "--older-than 60 lists only the cancellations asked for at least 60 s ago (one that "
        f"is 5 s old is not stalled, its answers are on their way); got {listed}"
    )
    assert summary == (1, 0), f"the summary counts what is listed: {summary}"
    assert status == 1, f"exit status 1, not {status}"


def test_with_no_cancellation_at_all_the_summary_still_comes():
    status, listed, summary = cancellations()

    assert (listed, summary, status) == ([], (0, 0), 0), (listed, summary, status)
