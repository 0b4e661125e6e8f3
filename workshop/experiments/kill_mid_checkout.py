"""Chapter 4's crash experiment: checkouts in flight, the orders service killed mid-way.

With stage 04 running in embedded mode (`make run STAGE=04`, data in var/04-services/):

    .venv/bin/python workshop/experiments/kill_mid_checkout.py count          # the books
    .venv/bin/python workshop/experiments/kill_mid_checkout.py run --kill-after 2.5
    .venv/bin/python workshop/experiments/kill_mid_checkout.py count          # after the crash
    .venv/bin/python workshop/experiments/kill_mid_checkout.py count          # 40 s later

`run` starts CHECKOUTS clients, each buying two products (ids 1..10) in a loop, and after
--kill-after seconds sends SIGKILL to the orders service's gRPC server: no goodbye, as a
crash. supervisord restarts it alone (the stage's log says so) and saga-recovery ends what
the crash left half-way, 30 s after its last move. `count` reads the services' own databases
and prints what must always agree: approved charges and confirmed orders (count and amount),
stock gone and units sold, sagas not ended.

A stage started with SHOP_PORT=<port> make run STAGE=04 is found with the same SHOP_PORT
here; only that stage's orders service is killed, never another one on the same machine.
"""

import argparse
import collections
import os
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil  # comes with Locust

PORT = int(os.environ.get("SHOP_PORT") or 8000)
BASE = f"http://127.0.0.1:{PORT}"
VAR = Path(__file__).resolve().parents[2] / "var" / "04-services"
PRODUCTS = range(1, 11)
START_STOCK = 1_000_000  # each demo product's stock (chassis/demo_data.py)


def query(database: str, sql: str) -> list[tuple]:
    path = VAR / f"{database}.sqlite3"
    if not path.is_file():
        sys.exit(f"no {path}: run stage 04 in embedded mode first (make run STAGE=04)")
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


def count() -> None:
    charges = dict(
        (status, (number, amount))
        for status, number, amount in query(
            "payments",
            "SELECT status, count(*), coalesce(sum(amount_cents), 0) "
            "FROM payments_charge GROUP BY status",
        )
    )
    orders = dict(
        (status, (number, amount))
        for status, number, amount in query(
            "orders",
            "SELECT status, count(*), coalesce(sum(total_cents), 0) "
            "FROM orders_order GROUP BY status",
        )
    )
    sagas = dict(query("orders", "SELECT state, count(*) FROM orders_checkoutsaga GROUP BY state"))
    sold = query(
        "orders",
        "SELECT coalesce(sum(line.quantity), 0) FROM orders_orderline line "
        "JOIN orders_order ON orders_order.id = line.order_id "
        "WHERE orders_order.status = 'confirmed'",
    )[0][0]
    stock = query(
        "inventory",
        f"SELECT coalesce(sum(available), 0) FROM inventory_stocklevel "
        f"WHERE product_id BETWEEN {PRODUCTS[0]} AND {PRODUCTS[-1]}",
    )[0][0]
    approved, confirmed = charges.get("approved", (0, 0)), orders.get("confirmed", (0, 0))
    print(
        f"charges approved   {approved[0]:>5}  {approved[1] / 100:>12,.2f} EUR   (all: {charges})"
    )
    print(
        f"orders confirmed   {confirmed[0]:>5}  {confirmed[1] / 100:>12,.2f} EUR   (all: {orders})"
    )
    print(f"stock gone         {START_STOCK * len(PRODUCTS) - stock:>5} units of products 1..10")
    print(f"units sold         {sold:>5} in confirmed orders")
    print(f"sagas              {sagas}")
    unfinished = {
        state: n for state, n in sagas.items() if state not in ("confirmed", "failed", "cancelled")
    }
    if unfinished:
        print(
            f"not ended yet      {unfinished}: saga-recovery ends them 30 s after their last move"
        )


def buyer(number: int, stop: threading.Event, outcomes: collections.Counter) -> None:
    with httpx.Client(base_url=BASE, timeout=30, trust_env=False) as client:
        while not stop.is_set():
            try:
                cart = client.post("/api/carts/").json()["id"]
                for product_id in (PRODUCTS[number % 10], PRODUCTS[(number + 3) % 10]):
                    client.post(
                        f"/api/carts/{cart}/items/", json={"product_id": product_id, "quantity": 1}
                    )
                answer = client.post(
                    "/api/orders/",
                    json={
                        "cart_id": cart,
                        "email": f"buyer{number}@example.com",
                        "payment_token": "tok_visa",
                    },
                )
                outcomes[answer.status_code] += 1
            except (httpx.HTTPError, KeyError, ValueError) as error:
                outcomes[type(error).__name__] += 1
                return


def orders_service_pid() -> int | None:
    """The orders gRPC server of the stage on PORT (its processes carry SHOP_PORT)."""
    for process in psutil.process_iter(["cmdline"]):
        try:
            command = process.info["cmdline"] or []
            # The server itself, not a shell that started it (`docker compose` runs one).
            python = bool(command) and Path(command[0]).name.startswith("python")
            if not python or command[1:4] != ["-m", "orders", "serve_grpc"]:
                continue
            if int(process.environ().get("SHOP_PORT") or 8000) == PORT:
                return process.pid
        except (psutil.NoSuchProcess, psutil.AccessDenied, TypeError):
            continue
    return None


def run(checkouts: int, kill_after: float) -> None:
    stop, outcomes = threading.Event(), collections.Counter()
    buyers = [threading.Thread(target=buyer, args=(n, stop, outcomes)) for n in range(checkouts)]
    for thread in buyers:
        thread.start()
    time.sleep(kill_after)
    pid = orders_service_pid()
    if pid is None:
        stop.set()
        sys.exit(f"no orders service of a stage on port {PORT}: start it first (make run STAGE=04)")
    os.kill(pid, signal.SIGKILL)
    print(f"killed the orders service (pid {pid}) after {kill_after} s")
    stop.set()
    for thread in buyers:
        thread.join()
    print(f"what the clients saw: {dict(outcomes)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("count", help="what the services' databases say")
    run_parser = commands.add_parser("run", help="checkouts, then SIGKILL the orders service")
    run_parser.add_argument("--checkouts", type=int, default=20, help="clients at once (20)")
    # 2.5 s: the buyers need a second or two to create carts before checkouts are in flight.
    run_parser.add_argument("--kill-after", type=float, default=2.5, help="seconds (2.5)")
    arguments = parser.parse_args()
    if arguments.command == "count":
        count()
    else:
        run(arguments.checkouts, arguments.kill_after)


if __name__ == "__main__":
    main()
