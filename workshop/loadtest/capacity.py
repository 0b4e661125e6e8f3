"""Locustfile of `make capacity`: the shared shopping with no think time, on the fast client.

The same for every stage (the public API is the same), so it lives here rather than in each
stage's locustfile.py.
"""

from loadtest.journey import CapacityShopper


class Shopper(CapacityShopper):
    pass
