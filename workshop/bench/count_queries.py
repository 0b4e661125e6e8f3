"""Count the SQL queries of a stage's hot requests, in-process, against its seeded database.

Run by `make bench` from a stage folder with that stage's environment (DATABASE_URL or
SHOP_VAR_DIR pointing at the database the bench instance migrated and seeded):

    python workshop/bench/count_queries.py

Prints one JSON object: {"GET /api/products/": 2, ...}. Django's test client goes through
the whole stack (middleware, DRF, serialisation) without a socket, and CaptureQueriesContext
counts what reaches the database.
"""

import json
import os
import sys

import django


def main() -> None:
    sys.path.insert(0, os.getcwd())  # the stage folder: its `config` package
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Stage 03: count the monolith with its own catalog tables, as stage 02 has them. With the
    # catalog service behind catalog.api (gRPC), its queries happen in another process, and
    # none is running here; `make bench` measures that hop in its own row.
    os.environ.setdefault("SHOP_CATALOG_BACKEND", "local")
    django.setup()

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")

    def count(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as queries:
            if method == "GET":
                response = client.get(path)
            else:
                response = client.post(path, body or {}, content_type="application/json")
        if response.status_code >= 400:
            answer = response.content.decode(errors="replace")
            raise SystemExit(f"{method} {path} answered {response.status_code}: {answer}")
        return len(queries), response.json()

    counts = {}
    counts["GET /api/products/ (page of 20)"], _ = count("GET", "/api/products/")
    counts["GET /api/products/?page_size=100"], _ = count("GET", "/api/products/?page_size=100")
    counts["GET /api/products/?q=guide"], _ = count("GET", "/api/products/?q=guide")
    counts["GET /api/products/{id}/"], _ = count("GET", "/api/products/1/")
    _, cart = count("POST", "/api/carts/")
    for product_id in (1, 2, 3):
        count("POST", f"/api/carts/{cart['id']}/items/", {"product_id": product_id, "quantity": 1})
    counts["GET /api/carts/{id}/ (3 items)"], _ = count("GET", f"/api/carts/{cart['id']}/")
    counts["POST /api/orders/ (3 items)"], order = count(
        "POST",
        "/api/orders/",
        {"cart_id": cart["id"], "email": "bench@example.com", "payment_token": "tok_visa"},
    )
    counts["GET /api/orders/{id}/ (3 items)"], _ = count("GET", f"/api/orders/{order['id']}/")
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
