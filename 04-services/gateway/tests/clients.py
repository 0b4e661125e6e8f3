"""The test client of the suite: DRF's APIClient, speaking JSON and checking money."""

import base64

from rest_framework.test import APIClient


def assert_no_floats(value, path: str = "$") -> None:
    """Walk a JSON document: money is a string (API.md), so no number may be a float."""
    assert not isinstance(value, float), f"{path} is a float: {value!r}"
    if isinstance(value, dict):
        for key, item in value.items():
            assert_no_floats(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_no_floats(item, f"{path}[{index}]")


class ShopClient(APIClient):
    """DRF's test client, sending JSON (the only body the API accepts) and checking on every
    JSON response that no float holds money."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.default_format = "json"

    def request(self, *args, **kwargs):
        response = super().request(*args, **kwargs)
        if response.get("Content-Type", "").startswith("application/json"):
            assert_no_floats(response.json())
        return response


def basic_auth(username: str, password: str) -> str:
    """The Authorization header of HTTP Basic auth."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
