"""Load profile of stage 04: the shared shop journey, unchanged: the same API at port 8000."""

import sys
from pathlib import Path

# The shared journey lives in workshop/. `make load` already puts that folder on PYTHONPATH;
# adding it here too lets `locust -f 04-services/locustfile.py` work on its own.
WORKSHOP = str(Path(__file__).resolve().parents[1] / "workshop")
if WORKSHOP not in sys.path:
    sys.path.insert(0, WORKSHOP)

from loadtest.journey import ShopJourney  # noqa: E402


class ShopUser(ShopJourney):
    pass
