"""Check of exercise 04-reconcile: `python -m orders reconcile` asks the payments service for
its charges (ListCharges, through chassis.clients.payments) and lists the approved ones whose
order is not confirmed in the orders database, then a summary; exit status 0, 1 or 2.

The payments service is a fake on an in-process gRPC server, reached through the real client;
the orders are rows of the test database.
"""

import io
import re
import uuid

import pytest
from chassis.grpc_server import registers
from chassis.testing import django_db_modify_db_settings, running_server  # noqa: F401 (a fixture)
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError
from orders.models import Cart, Order
from shop.payments.v1 import payments_pb2, payments_pb2_grpc

pytestmark = pytest.mark.django_db

Charge = payments_pb2.Charge
SUMMARY = re.compile(r"^reconcile: (\d+) approved charges?, (\d+) without a confirmed order$")
CLOSED_PORT = "127.0.0.1:1"  # nobody listens there: the payments service is down


class FakePayments(payments_pb2_grpc.PaymentsServiceServicer):
    """The payments service's ListCharges, answering the charges a test gives it."""

    def __init__(self) -> None:
        self.charges: list[Charge] = []
        self.listed = 0

    def ListCharges(self, request, context):  # noqa: N802 (gRPC's method names)
        self.listed += 1
        return payments_pb2.ListChargesResponse(charges=self.charges)

    def add(self, order_id, status, *, amount_cents: int = 1250) -> str:
        charge_id = f"ch_{len(self.charges) + 1}"
        self.charges.append(
            Charge(
                charge_id=charge_id,
                idempotency_key=f"charge-{order_id}",
                order_id=str(order_id),
                amount_cents=0 if status == Charge.VOIDED else amount_cents,
                currency="EUR",
                status=status,
            )
        )
        return charge_id


@pytest.fixture
def payments(settings):
    fake = FakePayments()

    @registers("shop.payments.v1.PaymentsService")
    def register(server) -> None:
        payments_pb2_grpc.add_PaymentsServiceServicer_to_server(fake, server)

    with running_server(register) as target:
        settings.SHOP_GRPC_TARGETS = {**settings.SHOP_GRPC_TARGETS, "payments": target}
        yield fake


def an_order(status: str) -> uuid.UUID:
    """An order of the orders database, in this status (each on a cart of its own)."""
    order = Order.objects.create(
        cart=Cart.objects.create(), email="ada@example.com", status=status, total_cents=1250
    )
    return order.id


def run_reconcile() -> tuple[int, str]:
    """Run `python -m orders reconcile`: its exit status and what it wrote to stdout."""
    if "reconcile" not in get_commands():
        pytest.fail(
            "python -m orders reconcile does not exist yet: "
            "no orders/management/commands/reconcile.py"
        )
    stdout = io.StringIO()
    try:
        call_command("reconcile", stdout=stdout, stderr=io.StringIO())
        status = 0
    except CommandError as error:  # Django's run_from_argv exits with its returncode
        status = error.returncode
    except SystemExit as exit:
        status = exit.code if isinstance(exit.code, int) else 1
    except Exception as error:  # noqa: BLE001 (any other error is the finding)
        pytest.fail(
            f"reconcile crashed with {type(error).__name__}: {error}; it must end with exit "
            "status 0, 1 or 2 (CommandError(..., returncode=N) or sys.exit(N))"
        )
    return status, stdout.getvalue()


def reconcile() -> tuple[int, list[dict[str, str]], str]:
    """Run reconcile: its exit status, its charge lines (as dicts of their key=value fields)
    and its last line."""
    status, output = run_reconcile()
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    assert lines, "reconcile wrote nothing to standard output"
    charges = [
        dict(field.partition("=")[::2] for field in line.split())
        for line in lines
        if line.startswith("charge_id=")
    ]
    return status, charges, lines[-1]


def listed(charges: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {charge.get("charge_id"): charge for charge in charges}


def summary(last_line: str) -> tuple[int, int]:
    match = SUMMARY.match(last_line)
    assert match, (
        f"the last line is {last_line!r}; expected the summary "
        "'reconcile: <N> approved charges, <M> without a confirmed order'"
    )
    return int(match[1]), int(match[2])


def test_a_confirmed_orders_charge_is_not_listed_and_the_exit_status_is_0(payments):
    payments.add(an_order("confirmed"), Charge.APPROVED)
    payments.add(an_order("confirmed"), Charge.APPROVED)

    status, charges, last_line = reconcile()

    assert payments.listed == 1, "reconcile must ask the payments service (ListCharges) once"
    assert charges == [], f"charges of confirmed orders were listed: {charges}"
    assert summary(last_line) == (2, 0), f"two approved charges, none unmatched: {last_line!r}"
    assert status == 0, (
        f"every approved charge has its confirmed order: exit status 0, not {status}"
    )


def test_an_approved_charge_of_a_failed_cancelled_or_pending_order_is_listed(payments):
    confirmed, failed = an_order("confirmed"), an_order("failed")
    cancelled, pending = an_order("cancelled"), an_order("pending")
    payments.add(confirmed, Charge.APPROVED)
    of_failed = payments.add(failed, Charge.APPROVED, amount_cents=3200)
    of_cancelled = payments.add(cancelled, Charge.APPROVED, amount_cents=700)
    of_pending = payments.add(pending, Charge.APPROVED, amount_cents=99)

    status, charges, last_line = reconcile()

    found = listed(charges)
    assert set(found) == {of_failed, of_cancelled, of_pending}, (
        f"listed {sorted(found)}; expected the approved charges of the failed, cancelled and "
        f"pending orders ({of_failed}, {of_cancelled}, {of_pending}), and only those"
    )
    assert found[of_failed] == {
        "charge_id": of_failed,
        "order_id": str(failed),
        "amount_cents": "3200",
        "order_status": "failed",
    }, f"the line of {of_failed}: {found[of_failed]}"
    assert found[of_cancelled]["order_status"] == "cancelled", found[of_cancelled]
    assert found[of_pending]["order_status"] == "pending", found[of_pending]
    assert summary(last_line) == (4, 3), f"4 approved charges, 3 unmatched: {last_line!r}"
    assert status == 1, f"approved charges without a confirmed order: exit status 1, not {status}"


def test_an_approved_charge_whose_order_does_not_exist_is_listed_as_missing(payments):
    unknown = uuid.uuid4()
    charge_id = payments.add(unknown, Charge.APPROVED)

    status, charges, last_line = reconcile()

    assert listed(charges).get(charge_id) == {
        "charge_id": charge_id,
        "order_id": str(unknown),
        "amount_cents": "1250",
        "order_status": "missing",
    }, f"a charge for an order the orders database has never seen: {charges}"
    assert summary(last_line) == (1, 1), last_line
    assert status == 1, f"exit status 1, not {status}"


def test_voids_declines_and_refunds_are_not_listed(payments):
    failed, cancelled = an_order("failed"), an_order("failed")
    payments.add(failed, Charge.VOIDED)  # the recovery gave the checkout up: 0 cents
    payments.add(an_order("failed"), Charge.DECLINED)
    payments.add(cancelled, Charge.REFUNDED)
    payments.add(an_order("cancelled"), Charge.REFUNDED)
    payments.add(an_order("confirmed"), Charge.APPROVED)

    status, charges, last_line = reconcile()

    assert charges == [], (
        "only APPROVED charges took money and must match a confirmed order; voided, declined "
        f"and refunded ones are fine whatever their order: {charges}"
    )
    assert summary(last_line) == (1, 0), f"1 approved charge, none unmatched: {last_line!r}"
    assert status == 0, f"exit status 0, not {status}"


def test_payments_down_is_exit_status_2(settings):
    settings.SHOP_GRPC_TARGETS = {**settings.SHOP_GRPC_TARGETS, "payments": CLOSED_PORT}

    status, _ = run_reconcile()

    assert status == 2, (
        f"the payments service is down, so reconcile cannot tell: exit status 2, not {status}"
    )
