"""The proxy's tests are coroutines: anyio's pytest plugin runs them, on asyncio (aiohttp's)."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
