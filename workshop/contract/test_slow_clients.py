"""Contract of the edge: a handful of slow clients cannot starve the stage.

Sixteen connections trickle in (8 bodies and 8 header blocks, a byte or a line every 2 s;
workshop/experiments/slow_clients.py) while a normal client reads a product and its stock
again and again (at stage 03, from the catalog service and from the monolith behind the proxy):
each read must get its 200 within 3 s. Four such connections used to hold all four sync
workers of a stage, and every other request waited for as long as they kept going.
"""

import asyncio
from urllib.parse import urlsplit

import pytest
from slow_clients import LOOPBACK, probe

# The slow connections open at once; the normal client starts 1 s later and reads for the
# other 3 s, as long as its deadline: a read that a stuck worker holds fails it.
SECONDS = 4


def test_sixteen_slow_clients_do_not_starve_other_clients(base_url: str) -> None:
    if urlsplit(base_url).hostname not in LOOPBACK:
        pytest.skip("the slow-client probe only talks to a stage on this machine")

    result = asyncio.run(probe(base_url, slow_bodies=8, slow_headers=8, duration=SECONDS))

    assert len(result.requests) >= 3, result.summary()
    assert result.passed, result.summary()
