"""Check of exercise 03-sync-replay: `python manage.py replay_outbox --event-type T --since S`
makes the relay publish again the events of type T recorded since S, each under its own
event id, in their order, and leaves every other row of the outbox as it is.

No broker runs: the relay is handed a publisher that records what it is given, as the stage's
own relay tests do.
"""

import io
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from messaging import relay
from messaging.models import OutboxMessage

pytestmark = pytest.mark.django_db

SINCE = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
CATALOG = "catalog.product_changed"


class RecordingPublisher:
    """Stands in for relay.Publisher: keeps every envelope it is given."""

    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, envelope: dict) -> None:
        self.published.append(envelope)


def recorded(event_type: str, aggregate_id: str, *, at: datetime, published: bool):
    """An outbox row as the relay leaves it: recorded `at`, published a second later or not."""
    event_id = uuid.uuid4()
    envelope = {
        "event_id": str(event_id),
        "event_type": event_type,
        "version": 1,
        "occurred_at": at.isoformat(),
        "aggregate_id": aggregate_id,
        "data": {},
    }
    row = OutboxMessage.objects.create(
        event_id=event_id, event_type=event_type, aggregate_id=aggregate_id, payload=envelope
    )
    OutboxMessage.objects.filter(id=row.id).update(
        created_at=at, published_at=at + timedelta(seconds=1) if published else None
    )
    return OutboxMessage.objects.get(id=row.id)


@pytest.fixture
def outbox() -> dict[str, OutboxMessage]:
    """Catalog events before and after SINCE, an order event after it, one still waiting."""
    return {
        "catalog before": recorded(CATALOG, "1", at=SINCE - timedelta(hours=1), published=True),
        "catalog after": recorded(CATALOG, "2", at=SINCE + timedelta(minutes=1), published=True),
        "order after": recorded(
            "order.confirmed", "o-1", at=SINCE + timedelta(minutes=2), published=True
        ),
        "catalog later": recorded(CATALOG, "3", at=SINCE + timedelta(minutes=3), published=True),
        "catalog waiting": recorded(CATALOG, "4", at=SINCE + timedelta(minutes=4), published=False),
    }


def replay(*args: str) -> str:
    """Run the learner's command; its output. Missing: a failed check that says so."""
    try:
        from messaging.management.commands import replay_outbox  # noqa: F401
    except ImportError:
        pytest.fail(
            "no command replay_outbox: write it in "
            "03-strangler/messaging/management/commands/replay_outbox.py"
        )
    out = io.StringIO()
    call_command("replay_outbox", *args, stdout=out)
    return out.getvalue()


def relay_once() -> list[dict]:
    publisher = RecordingPublisher()
    relay.publish_pending(publisher=publisher)
    return publisher.published


def test_the_events_of_that_type_since_then_are_published_again_in_their_order(outbox):
    replay("--event-type", CATALOG, "--since", SINCE.isoformat())

    published = relay_once()

    aggregates = [(envelope["event_type"], envelope["aggregate_id"]) for envelope in published]
    assert aggregates == [(CATALOG, "2"), (CATALOG, "3"), (CATALOG, "4")], (
        "after replay_outbox, the relay must publish the catalog events recorded since --since "
        "(2 and 3, published before, then 4, which was still waiting), in the order they "
        f"were recorded, and nothing else; it published {aggregates}"
    )


def test_a_replayed_event_keeps_its_id_so_a_consumer_knows_it_has_seen_it(outbox):
    rows_before = OutboxMessage.objects.count()

    replay("--event-type", CATALOG, "--since", SINCE.isoformat())
    published = relay_once()

    expected = [str(outbox[name].event_id) for name in ("catalog after", "catalog later")]
    replayed = [envelope["event_id"] for envelope in published][:2]
    assert replayed == expected, (
        "a replayed event must go out under its own event_id (the consumers remember ids: "
        "under a new id a consumer that handled it would handle it again); "
        f"expected {expected}, published {replayed}"
    )
    assert OutboxMessage.objects.count() == rows_before, (
        "replay_outbox must publish the rows that are there again, not add new rows"
    )


def test_other_types_and_older_events_are_left_as_they_are(outbox):
    replay("--event-type", CATALOG, "--since", SINCE.isoformat())

    for name in ("catalog before", "order after"):
        row = OutboxMessage.objects.get(id=outbox[name].id)
        assert row.published_at == outbox[name].published_at, (
            f"the {name!r} row must stay published: replay only --event-type, since --since"
        )


def test_it_says_how_many_events_it_replays(outbox):
    output = replay("--event-type", CATALOG, "--since", SINCE.isoformat())

    assert re.search(r"\b2 events\b", output), (
        "replay_outbox must say how many events it sends again: the 2 published catalog "
        f"events since --since (the waiting one was to go anyway); it said {output!r}"
    )


def test_a_since_that_is_not_a_time_is_refused_clearly(outbox):
    with pytest.raises(CommandError, match="--since"):
        replay("--event-type", CATALOG, "--since", "yesterday")
    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 1, (
        "a refused replay must change nothing"
    )
