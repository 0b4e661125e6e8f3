"""What one gRPC hop costs: the same catalog lookup in-process and over gRPC.

Run by `make bench` from stage 03's folder, with the environment of a running stage 03 (its
catalog service listens on SHOP_PORT + 21, where the monolith's settings look for it):

    python workshop/bench/grpc_hop.py 300

Both sides go through catalog.api's two implementations, so the difference is the hop:
`catalog.local.product_get` reads the monolith's own tables (one query on the database the
stage uses), `catalog.remote.product_get` asks the catalog service, which reads its own.
Prints one JSON object: {"in_process": [ms, ...], "grpc": [ms, ...]}, one timing per call.
"""

import json
import os
import sys
import time

import django

WARM_UP_CALLS = 50


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    sys.path.insert(0, os.getcwd())  # the stage folder: its `config` and `catalog` packages
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()

    from catalog import local, remote

    def timings(lookup) -> list[float]:
        for _ in range(WARM_UP_CALLS):  # connections opened, caches warm
            lookup(product_id=1)
        result = []
        for _ in range(calls):
            started = time.perf_counter()
            lookup(product_id=1)
            result.append((time.perf_counter() - started) * 1000)
        return result

    print(
        json.dumps({"in_process": timings(local.product_get), "grpc": timings(remote.product_get)})
    )


if __name__ == "__main__":
    main()
