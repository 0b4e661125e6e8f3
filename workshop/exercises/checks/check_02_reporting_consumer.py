"""Check of exercise 02-reporting-consumer: a `reporting` context counts confirmed orders per
day from `order.confirmed` events, once per event, inside the boundaries import-linter enforces,
run by a process of its own.

Two of the tests race two deliveries, deterministically and on any database: they replay, in
one connection, what two consumers do at once. `racing(...)` watches the SQL the handler sends
(Django's execute_wrapper): one test hides the other delivery's event row from the handler's
reads until the handler first writes that table (the other delivery had not committed when the
handler asked "have I seen it?"); the other lets a second delivery count just before the
handler writes the day's count (between its read of the count and its write).
"""

import configparser
import contextlib
import importlib
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command, get_commands
from django.db import DatabaseError, IntegrityError, connection
from messaging import broker
from messaging.consumer import EventConsumer
from ordering.events import OrderConfirmed, OrderedItem

STAGE = Path(settings.BASE_DIR)
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")
PI_DAY = date(2026, 3, 14)  # a day in the past: an order is counted on its day, not today's


def reporting(module: str) -> ModuleType:
    """The learner's `reporting.<module>`, or a failed test saying what is missing."""
    if not apps.is_installed("reporting"):
        pytest.fail('there is no app "reporting" in INSTALLED_APPS (config/settings.py) yet')
    try:
        return importlib.import_module(f"reporting.{module}")
    except ModuleNotFoundError as error:
        if error.name in {"reporting", f"reporting.{module}"}:
            pytest.fail(f"reporting/{module}.py does not exist yet")
        raise


def confirmed_at(moment: datetime) -> dict:
    """The envelope of a fresh order.confirmed event, as the relay publishes it."""
    event = OrderConfirmed(
        occurred_at=moment,
        order_id=uuid.uuid4(),
        email="ada@example.com",
        items=(
            OrderedItem(
                product_id=1, sku="KI-0001", name="Kettle", unit_price_cents=1250, quantity=1
            ),
        ),
        total_cents=1250,
    )
    return event.envelope()


def deliver(envelope: dict, handle=None) -> None:
    """Hand one envelope to reporting's handler, as its consumer process does."""
    handle = handle or reporting("handlers").handle
    try:
        handle(envelope)
    except DatabaseError as error:
        pytest.fail(
            f"the handler's query failed ({error}): do reporting's tables exist? "
            "`python manage.py makemigrations reporting` writes their migration"
        )


def confirmed_orders_on(day: date) -> int:
    count = reporting("api").confirmed_orders_on(day=day)
    assert isinstance(count, int), f"confirmed_orders_on(day=...) returned {count!r}, not an int"
    return count


def test_reporting_is_subscribed_to_confirmed_orders():
    subscriptions = settings.SHOP_EVENT_SUBSCRIPTIONS
    assert "order.confirmed" in subscriptions.get("reporting", []), (
        f'SHOP_EVENT_SUBSCRIPTIONS has no "reporting": ["order.confirmed"] (it is {subscriptions})'
    )
    keys = [binding.routing_key for binding in broker.subscribed_queue("reporting").bindings]
    assert "order.confirmed" in keys


def test_a_confirmed_order_counts_on_the_day_it_was_confirmed(db):
    deliver(confirmed_at(datetime(2026, 3, 14, 9, 30, tzinfo=UTC)))

    assert confirmed_orders_on(PI_DAY) == 1, (
        "an order.confirmed event that occurred on 2026-03-14 is not counted on that day "
        "(the day is the date of the event's occurred_at, in UTC)"
    )
    assert confirmed_orders_on(date(2026, 3, 13)) == 0, "a day without orders must count 0"


def test_the_same_event_delivered_twice_counts_once(db):
    envelope = confirmed_at(datetime(2026, 3, 14, 9, 30, tzinfo=UTC))

    deliver(envelope)
    deliver(dict(envelope))  # a redelivery: the same event id, another copy of the message

    assert confirmed_orders_on(PI_DAY) == 1, (
        "the same event (same event_id) delivered twice was counted twice: the handler must "
        "remember the event ids it has counted, like notifications' ProcessedEvent"
    )


def test_two_orders_confirmed_the_same_day_count_two(db):
    deliver(confirmed_at(datetime(2026, 3, 14, 0, 0, tzinfo=UTC)))
    deliver(confirmed_at(datetime(2026, 3, 14, 23, 59, tzinfo=UTC)))
    deliver(confirmed_at(datetime(2026, 3, 15, 0, 1, tzinfo=UTC)))

    assert confirmed_orders_on(PI_DAY) == 2, "two different events on 2026-03-14 must count 2"
    assert confirmed_orders_on(date(2026, 3, 15)) == 1, "the next day has a count of its own"


def test_a_redelivery_racing_the_first_delivery_counts_once(db):
    envelope = confirmed_at(datetime(2026, 3, 14, 9, 30, tzinfo=UTC))
    deliver(envelope)  # the first delivery, not yet committed as far as the second one can see

    processed, _ = reporting_tables()
    with racing(hide_rows_of=processed):
        try:
            reporting("handlers").handle(dict(envelope))
        except IntegrityError as error:
            pytest.fail(
                f'the second delivery raised IntegrityError ({error}): it asked "have I seen '
                'this event?" before the first delivery had committed, then its insert hit the '
                "unique index. The consumer logs event_failed and retries after a pause, holding "
                "up its queue. Insert the event id first, in its own transaction.atomic(), and "
                "return without counting on IntegrityError"
            )

    assert confirmed_orders_on(PI_DAY) == 1, (
        'two deliveries of one event that raced were both counted: a "have I seen it?" query '
        "cannot see a delivery that has not committed yet. Let a unique index on the event id "
        "decide: insert first, count only if the insert worked"
    )


def test_orders_counted_at_the_same_moment_are_all_counted(db):
    deliver(confirmed_at(datetime(2026, 3, 14, 8, 0, tzinfo=UTC)))  # the day has its row
    other = confirmed_at(datetime(2026, 3, 14, 9, 0, tzinfo=UTC))

    _, counts = reporting_tables()
    with racing(before_writing=counts, run=lambda: deliver(other)):
        deliver(confirmed_at(datetime(2026, 3, 14, 9, 30, tzinfo=UTC)))

    assert confirmed_orders_on(PI_DAY) == 3, (
        "another consumer counted an order of the same day between this handler's read of the "
        "count and its write, and one of the two was lost. Let the database add one: "
        'filter(day=day).update(count=F("count") + 1), not count += 1 and save()'
    )


def reporting_tables() -> tuple[str, set[str]]:
    """The table of reporting's processed events (its model has an event_id), and the rest."""
    reporting("handlers")  # a missing app or module fails here, with its message
    tables = {
        model._meta.db_table: {field.name for field in model._meta.get_fields()}
        for model in apps.get_app_config("reporting").get_models()
    }
    processed = [table for table, fields in tables.items() if "event_id" in fields]
    if len(processed) != 1:
        pytest.fail(
            f"reporting's models should have one with an event_id field (the events already "
            f"counted); tables with one: {processed}"
        )
    return processed[0], set(tables) - set(processed)


@contextlib.contextmanager
def racing(
    *,
    hide_rows_of: str | None = None,
    before_writing: set[str] = frozenset(),
    run: Callable[[], None] = lambda: None,
) -> Iterator[None]:
    """Replay a race in the test's connection. `hide_rows_of`: reads of that table return no
    row until the code first writes to it. `before_writing`: `run` runs once, just before the
    code's first write to one of those tables."""
    state = {"hiding": hide_rows_of is not None, "pending": bool(before_writing), "inside": False}

    def names(sql: str, table: str) -> bool:
        return f'"{table}"' in sql

    def wrapper(execute, sql, params, many, context):
        if state["inside"]:
            return execute(sql, params, many, context)
        writes = sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        if state["hiding"] and names(sql, hide_rows_of):
            if writes:
                state["hiding"] = False
            else:
                sql = f"SELECT * FROM ({sql}) AS not_committed_yet WHERE 1 = 0"
        if state["pending"] and writes and any(names(sql, table) for table in before_writing):
            state["pending"], state["inside"] = False, True
            try:
                run()
            finally:
                state["inside"] = False
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield
    if state["pending"]:
        pytest.fail(f"the handler never wrote to {sorted(before_writing)}: it counted nothing")


def test_the_boundary_contracts_cover_reporting(tmp_path):
    contracts = configparser.ConfigParser()
    contracts.read(STAGE / ".importlinter")
    root_packages = names(contracts["importlinter"]["root_packages"])
    assert "reporting" in root_packages, ".importlinter: reporting is not in root_packages"
    by_type = {
        contracts[section]["type"]: contracts[section]
        for section in contracts.sections()
        if section.startswith("importlinter:contract:")
    }
    assert "reporting" in names(by_type["independence"]["modules"]), (
        ".importlinter: reporting is not among the modules of the contexts (independence) contract"
    )
    assert "reporting" in names(by_type["layers"]["layers"]), (
        ".importlinter: reporting is in no layer of the layers contract (it sits beside the "
        "other contexts)"
    )

    # The contracts as they are must hold: reporting reads ordering's events, nothing private.
    for package in root_packages:
        shutil.copytree(
            STAGE / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(STAGE / ".importlinter", tmp_path)
    kept = lint_imports(tmp_path)
    assert kept.returncode == 0, f"lint-imports fails on the stage:\n{kept.stdout}{kept.stderr}"

    # And they must bite: in this copy (never in your tree), reporting reaches into ordering's
    # models and the plumbing reaches up into reporting.
    (tmp_path / "reporting" / "probe.py").write_text("from ordering.models import Order\n")
    (tmp_path / "messaging" / "probe.py").write_text("from reporting import api\n")
    broken = lint_imports(tmp_path)
    assert "reporting is not allowed to import ordering" in broken.stdout, (
        "an import of ordering.models from reporting was not reported by the contexts "
        f"contract:\n{broken.stdout}{broken.stderr}"
    )
    assert "messaging.probe -> reporting.api" in broken.stdout, (
        f"messaging importing reporting was not reported by the layers contract:\n{broken.stdout}"
    )


def test_the_procfile_runs_a_reporting_consumer(db, monkeypatch):
    procfile = (STAGE / "Procfile").read_text()
    processes = dict(re.findall(r"^([\w-]+):\s*(.+)$", procfile, re.MULTILINE))
    command_line = processes.get("reporting", "").split()
    assert len(command_line) == 3 and command_line[:2] == ["python", "manage.py"], (
        "the Procfile has no line `reporting: python manage.py <your command>`"
    )
    command = command_line[2]
    assert get_commands().get(command) == "reporting", (
        f"`{command}` is not a management command of the reporting app "
        "(reporting/management/commands/<command>.py)"
    )

    started: list[EventConsumer] = []
    monkeypatch.setattr(EventConsumer, "run", lambda consumer: started.append(consumer))
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        call_command(command)
    finally:
        for signum, handler in handlers.items():  # the command sets its own; give pytest's back
            signal.signal(signum, handler)

    assert started, f"`manage.py {command}` did not run an EventConsumer (messaging/consumer.py)"
    [consumer] = started
    assert consumer.queue.name == broker.subscribed_queue("reporting").name, (
        f"the consumer reads the queue {consumer.queue.name}, not reporting's "
        "(messaging.broker.subscribed_queue('reporting'))"
    )
    deliver(confirmed_at(datetime(2026, 3, 14, 9, 30, tzinfo=UTC)), handle=consumer.handler)
    assert confirmed_orders_on(PI_DAY) == 1, "the consumer's handler does not count the event"


def names(value: str) -> set[str]:
    """The module names in an import-linter option: one a line, `:` or `|` between siblings."""
    return {name for name in re.split(r"[\s:|()]+", value) if name}


def lint_imports(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=folder, capture_output=True, text=True, timeout=60
    )
