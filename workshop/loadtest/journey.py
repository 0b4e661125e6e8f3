"""The shop journey every stage is load-tested with: the same tasks, weights and waits."""

import json
import os
import random
import uuid
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, HttpUser, TaskSet, between, constant, events, task
from locust.env import Environment
from locust.stats import CSV_STATS_INTERVAL_SEC

# The demo catalog's products with ample stock (API.md, demo data). LTD- products (ids 241+)
# have three units each: a load test would sell them out and count every later checkout as
# a failure, so the journey never touches them.
PRODUCT_IDS = range(1, 241)
# Nouns of the demo product names (lower-case: the search is case-insensitive).
SEARCH_WORDS = ("guide", "atlas", "lamp", "speaker", "kettle", "teapot", "lantern", "kite", "robot")
BROWSED_PAGES = range(1, 6)
# A shopper who has put this many things in a cart without paying abandons it and starts a
# new one, as real shoppers do; it also keeps every line far below the 99-per-line limit.
ITEMS_BEFORE_ABANDONING_A_CART = 5


# Written next to Locust's CSV files: every request name's full response-time histogram, so
# that a report can merge names into endpoint groups (cart = create + add item) and compute
# exact percentiles of the group; the CSV only has each name's own percentiles.
RESPONSE_TIMES_SUFFIX = "_response_times.json"


_locust: dict[str, Environment] = {}


@events.init.add_listener
def _remember_the_environment(environment: Environment, **_kwargs: Any) -> None:
    _locust["environment"] = environment  # the quit event does not pass it


@events.quit.add_listener
def _finish_the_csv_files(**_kwargs: Any) -> None:
    """Write the response-time histograms and give Locust's CSV writer one more tick.

    This runs once every user has stopped and before Locust closes its CSV files. The CSV
    writer rewrites `<prefix>_stats.csv` once a second and Locust closes the file without a
    last write, so without the pause the file would miss up to a second of requests.
    """
    environment = _locust.get("environment")
    csv_prefix = environment and getattr(environment.parsed_options, "csv_prefix", None)
    if not csv_prefix:
        return
    histograms = [
        {
            "method": entry.method,
            "name": entry.name,
            "num_requests": entry.num_requests,
            "num_failures": entry.num_failures,
            "start_time": entry.start_time,
            "last_request_timestamp": entry.last_request_timestamp,
            "response_times": entry.response_times,  # {rounded milliseconds: count}
        }
        for entry in environment.stats.entries.values()
    ]
    Path(csv_prefix + RESPONSE_TIMES_SUFFIX).write_text(json.dumps(histograms, indent=1))
    gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.2)


class Shopping(TaskSet):
    """A shopper: mostly browsing and reading, sometimes filling a cart, now and then buying.

    Every request carries a fixed `name`, so Locust's statistics group by endpoint and the
    reports of different stages line up row by row. A TaskSet, so that the same shopping
    runs on either of Locust's HTTP clients (the users below).
    """

    browsing_cart_id: str | None = None
    items_in_browsing_cart = 0

    @task(4)
    def browse(self) -> None:
        self.call(
            "GET",
            "/api/products/",
            name="browse GET /api/products/",
            params={"page": random.choice(BROWSED_PAGES)},
        )

    @task(2)
    def search(self) -> None:
        self.call(
            "GET",
            "/api/products/",
            name="search GET /api/products/?q=",
            params={"q": random.choice(SEARCH_WORDS)},
        )

    @task(4)
    def detail(self) -> None:
        self.call(
            "GET",
            f"/api/products/{random.choice(PRODUCT_IDS)}/",
            name="detail GET /api/products/{id}/",
        )

    @task(2)
    def add_to_cart(self) -> None:
        if (
            self.browsing_cart_id is None
            or self.items_in_browsing_cart >= ITEMS_BEFORE_ABANDONING_A_CART
        ):
            cart = self.create_cart()
            if cart is None:
                return
            self.browsing_cart_id, self.items_in_browsing_cart = cart["id"], 0
        if self.add_item(self.browsing_cart_id, random.choice(PRODUCT_IDS)) is not None:
            self.items_in_browsing_cart += 1

    @task(1)
    def checkout(self) -> None:
        cart = self.create_cart()
        if cart is None:
            return
        for product_id in random.sample(PRODUCT_IDS, k=random.randint(1, 3)):
            if self.add_item(cart["id"], product_id) is None:
                return
        order = self.call(
            "POST",
            "/api/orders/",
            name="checkout POST /api/orders/",
            expected_status=201,
            json={
                "cart_id": cart["id"],
                "email": f"load-{uuid.uuid4().hex[:12]}@example.com",
                "payment_token": "tok_visa",
            },
            # A real client sends a fresh key per checkout so that its retries are safe; the
            # load test pays the server's cost of storing and checking it, as production would.
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if order is not None:
            self.call(
                "GET", f"/api/orders/{order['id']}/", name="order lookup GET /api/orders/{id}/"
            )

    def create_cart(self) -> dict[str, Any] | None:
        return self.call("POST", "/api/carts/", name="cart POST /api/carts/", expected_status=201)

    def add_item(self, cart_id: str, product_id: int) -> dict[str, Any] | None:
        return self.call(
            "POST",
            f"/api/carts/{cart_id}/items/",
            name="cart POST /api/carts/{id}/items/",
            expected_status=201,
            json={"product_id": product_id, "quantity": 1},
        )

    def call(
        self, method: str, path: str, *, name: str, expected_status: int = 200, **kwargs: Any
    ) -> Any | None:
        """Send one request; anything but `expected_status` with a JSON body is a failure.

        Returns the JSON body, or None after a failure so the task can stop there.
        """
        with self.client.request(
            method, path, name=name, catch_response=True, **kwargs
        ) as response:
            if response.status_code == 0:  # no HTTP answer at all: refused, reset, timed out
                response.failure(f"no answer: {type(response.error).__name__}")
                return None
            if response.status_code != expected_status:
                response.failure(
                    f"expected {expected_status}, got {response.status_code}"
                    f"{error_code_suffix(response)}"
                )
                return None
            try:
                body = response.json()
            except ValueError:
                response.failure(f"{response.status_code} without a JSON body")
                return None
            response.success()
            return body


class ShopJourney(HttpUser):
    """A person shopping: think time between requests. What `make load`, `make compare` and
    the smoke run of `make test` simulate, through each stage's locustfile.py."""

    abstract = True
    host = os.environ.get("SHOP_BASE_URL", "http://127.0.0.1:8000")
    wait_time = between(0.5, 2)
    tasks = [Shopping]


class CapacityShopper(FastHttpUser):
    """The same shopping with no think time, on Locust's cheaper client (geventhttpclient):
    each user sends its next request as soon as the last one is answered, so a user is one
    request in flight. `make capacity` raises the number of users step by step."""

    abstract = True
    host = ShopJourney.host
    wait_time = constant(0)
    tasks = [Shopping]


def error_code_suffix(response: Any) -> str:
    """` out_of_stock` for an API error envelope, else nothing: keeps failure reasons short."""
    try:
        return f" {response.json()['error']['code']}"
    except (ValueError, KeyError, TypeError):
        return ""
