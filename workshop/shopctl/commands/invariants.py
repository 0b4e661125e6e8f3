"""`shopctl invariants`: do a stage's books agree? The check a learner runs after any fault.

Stages 01 to 03 keep their books in one database, read with the stage's own settings
(`python manage.py shell -c …`): every approved charge is a confirmed order of the same
amount and back, a refunded charge belongs to a cancelled order, and every confirmed (or
later cancelled) order got exactly one confirmation email. Their stock is not checked: they
keep no record of restocks, so what the demo gave is not known afterwards.

Stage 04 keeps its books in four services' databases; the check reads each with that
service's own settings (`python -m <service> shell -c …`, so it finds SQLite or PostgreSQL as
`make run` did) and compares:

- money: every approved charge is a confirmed order of the same amount, and back; a
  refunded charge belongs to a cancelled order;
- stock, per product: what the demo gave plus what was restocked = available + held by
  checkouts in flight + committed to sales, and committed = units in confirmed orders;
- emails: every confirmed (or later cancelled) order got exactly one confirmation email in
  `<SHOP_VAR_DIR>/emails/`, unless its event is still in the outbox, on its way.

Checkouts still in flight (a saga `running`) are listed, not counted as broken: the
recovery ends them 30 s after their last move. Run it again then.
"""

import collections
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from shopctl import ShopctlError
from shopctl.env import run_environment
from shopctl.stages import Stage, find_stage

SUBJECT = re.compile(r"^Subject: Your order (?P<order>[0-9a-f-]{36}) is confirmed$", re.M)

# Stages 01 to 03: one Django project, the models of one database.
MONOLITH = """
import json
{imports}
charges = Charge.objects.values_list("order_id", "status", "amount_cents")
orders = Order.objects.values_list("id", "status", "total_cents")
print(json.dumps({{
    # "succeeded": a charge that took the money, as these stages name it (stage 04: approved).
    "approved": {{str(order): cents for order, status, cents in charges if status == "succeeded"}},
    "refunded": {{str(order): cents for order, status, cents in charges if status == "refunded"}},
    "confirmed": {{str(id): cents for id, status, cents in orders if status == "confirmed"}},
    "cancelled": {{str(id): cents for id, status, cents in orders if status == "cancelled"}},
    "sagas": {{}},
    "unpublished": {unpublished},
}}))
"""
MONOLITH_MODELS = {
    "01": ("from shop.models import Charge, Order", "[]"),  # no outbox: a Celery task or nothing
    **dict.fromkeys(
        ("02", "03"),
        (
            "from messaging.models import OutboxMessage\n"
            "from ordering.models import Order\n"
            "from payments.models import Charge",
            'list(OutboxMessage.objects.filter(published_at=None).values_list("aggregate_id", '
            "flat=True))",
        ),
    ),
}

# Each runs inside one service's Django (`python -m <service> shell -c`) and prints JSON.
PAYMENTS = """
import json
from payments.models import Charge
charges = Charge.objects.values_list("order_id", "status", "amount_cents")
print(json.dumps({
    "approved": {order: cents for order, status, cents in charges if status == "approved"},
    "refunded": {order: cents for order, status, cents in charges if status == "refunded"},
}))
"""
ORDERS = """
import json
from django.db.models import Count, Sum
from chassis.models import OutboxMessage
from orders.models import CheckoutSaga, Order, OrderLine
orders = Order.objects.values_list("id", "status", "total_cents")
sold = OrderLine.objects.filter(order__status="confirmed").values("product_id")
print(json.dumps({
    "confirmed": {str(id): cents for id, status, cents in orders if status == "confirmed"},
    "cancelled": {str(id): cents for id, status, cents in orders if status == "cancelled"},
    "sold": {str(row["product_id"]): row["units"] for row in sold.annotate(units=Sum("quantity"))},
    "sagas": dict(CheckoutSaga.objects.values_list("state").annotate(n=Count("id"))),
    "unpublished": list(
        OutboxMessage.objects.filter(published_at=None).values_list("aggregate_id", flat=True)
    ),
}))
"""
INVENTORY = """
import json
from django.db.models import Sum
from chassis.demo_data import demo_products
from inventory.models import ReservationLine, RestockRecord, StockLevel
def per_product(rows):
    return {str(row["product_id"]): row["units"] for row in rows.annotate(units=Sum("quantity"))}
lines = ReservationLine.objects.values("product_id")
print(json.dumps({
    "demo": {str(product.id): product.stock for product in demo_products()},
    "available": {str(p): n for p, n in StockLevel.objects.values_list("product_id", "available")},
    "held": per_product(lines.filter(reservation__status="held")),
    "committed": per_product(lines.filter(reservation__status="committed")),
    "restocked": per_product(RestockRecord.objects.values("product_id")),
}))
"""


@dataclass
class Check:
    name: str
    checked: bool = True
    broken: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def invariants(stage_number: str) -> int:
    stage = find_stage(stage_number)
    env = run_environment(stage)
    var_dir = Path(env["SHOP_VAR_DIR"])
    if stage.number == "04":
        checks = books_of_stage_04(stage, env, var_dir)
    elif stage.number in MONOLITH_MODELS:
        checks = books_of_one_database(stage, env, var_dir)
    else:
        raise ShopctlError(f"no invariant check for {stage.name}")
    for check in checks:
        state = "BROKEN" if check.broken else "ok" if check.checked else "-"
        print(f"{check.name:<8} {state}")
        for line in check.broken[:10]:
            print(f"  - {line}")
        if len(check.broken) > 10:
            print(f"  … and {len(check.broken) - 10} more")
        for line in check.notes:
            print(f"  {line}")
    broken = [check.name for check in checks if check.broken]
    if broken:
        print(f"invariants: BROKEN ({', '.join(broken)})")
        return 1
    print("invariants: the books agree")
    return 0


def books_of_stage_04(stage: Stage, env: dict[str, str], var_dir: Path) -> list[Check]:
    books = _read(stage, env, {"payments": PAYMENTS, "orders": ORDERS, "inventory": INVENTORY})
    return [
        _money(books["payments"], books["orders"]),
        _stock(books["inventory"], books["orders"]),
        _emails(books["orders"], var_dir / "emails"),
    ]


def books_of_one_database(stage: Stage, env: dict[str, str], var_dir: Path) -> list[Check]:
    imports, unpublished = MONOLITH_MODELS[stage.number]
    code = MONOLITH.format(imports=imports, unpublished=unpublished)
    books = _read(stage, env, {"manage.py": code})["manage.py"]
    stock = Check("stock", checked=False)
    stock.notes.append("not checked at this stage: it keeps no record of restocks")
    return [_money(books, books), stock, _emails(books, var_dir / "emails")]


def _money(payments: dict, orders: dict) -> Check:
    check = Check("money")
    approved, confirmed = payments["approved"], orders["confirmed"]
    for order, cents in approved.items():
        if order not in confirmed:
            check.broken.append(f"charge of {cents} cents approved, order {order} not confirmed")
        elif confirmed[order] != cents:
            check.broken.append(f"order {order}: total {confirmed[order]}, charged {cents} cents")
    for order in confirmed.keys() - approved.keys():
        check.broken.append(f"order {order} confirmed, no approved charge")
    for order in payments["refunded"].keys() - orders["cancelled"].keys():
        check.broken.append(f"charge of order {order} refunded, the order is not cancelled")
    total = sum(approved.values())
    check.notes.append(
        f"{len(approved)} approved charges, {len(confirmed)} confirmed orders "
        f"({total / 100:,.2f} EUR charged)"
    )
    running = {state: n for state, n in orders["sagas"].items() if state == "running"}
    if running:
        check.notes.append(
            f"{running['running']} checkout(s) still in flight: saga-recovery ends them 30 s "
            "after their last move; run this again then"
        )
    return check


def _stock(inventory: dict, orders: dict) -> Check:
    check = Check("stock")
    products = set(inventory["available"]) | set(inventory["committed"]) | set(orders["sold"])
    for product in sorted(products, key=int):
        given = inventory["demo"].get(product, 0) + inventory["restocked"].get(product, 0)
        available = inventory["available"].get(product, 0)
        held = inventory["held"].get(product, 0)
        committed = inventory["committed"].get(product, 0)
        if given != available + held + committed:
            check.broken.append(
                f"product {product}: {given} given (demo + restocks) but {available} available "
                f"+ {held} held + {committed} sold = {available + held + committed}"
            )
        if committed != orders["sold"].get(product, 0):
            check.broken.append(
                f"product {product}: {committed} units committed by the inventory, "
                f"{orders['sold'].get(product, 0)} in confirmed orders"
            )
    sold = sum(inventory["committed"].values())
    held = sum(inventory["held"].values())
    check.notes.append(f"{sold} units sold, {held} held by checkouts in flight")
    return check


def _emails(orders: dict, folder: Path) -> Check:
    check = Check("emails")
    sent = collections.Counter()
    for path in sorted(folder.glob("*.log")) if folder.is_dir() else []:
        sent.update(match["order"] for match in SUBJECT.finditer(path.read_text(errors="replace")))
    on_their_way = set(orders["unpublished"])
    waiting = 0
    for order in {**orders["confirmed"], **orders["cancelled"]}:
        if sent[order] > 1:
            check.broken.append(f"order {order}: {sent[order]} confirmation emails")
        elif sent[order] == 0 and order in on_their_way:
            waiting += 1
        elif sent[order] == 0:
            check.broken.append(f"order {order}: no confirmation email, and no event on its way")
    check.notes.append(f"{sum(sent.values())} confirmation emails in {folder}")
    if waiting:
        check.notes.append(f"{waiting} email(s) on their way (event still in the outbox)")
    return check


def _read(stage: Stage, env: dict[str, str], code: dict[str, str]) -> dict[str, dict]:
    """{service: what its code printed}, the services read at once (a Django start each)."""
    readers = {
        service: subprocess.Popen(
            # A service of stage 04 (`python -m orders`), or a stage's manage.py.
            [sys.executable, *([service] if service.endswith(".py") else ["-m", service])]
            + ["shell", "-c", source],
            cwd=stage.path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for service, source in code.items()
    }
    books = {}
    for service, reader in readers.items():
        output, errors = reader.communicate()
        if reader.returncode != 0:
            raise ShopctlError(
                f"could not read the {service} service's books (is the stage released? `make "
                f"run STAGE={stage.number}` does it):\n{errors.strip()[-2000:]}"
            )
        books[service] = json.loads(output.strip().splitlines()[-1])
    return books
