from __future__ import annotations

from typing import Any

import pytest

from supercompat import async_supercompat, supercompat
from supercompat.testing.contract import call, collect  # noqa: F401  (shared by the test modules)


@pytest.fixture(params=["sync", "async"])
def client(request: pytest.FixtureRequest) -> Any:
    """The same tests run through ``openai.OpenAI`` and ``openai.AsyncOpenAI``."""
    factory = supercompat if request.param == "sync" else async_supercompat
    return factory(max_retries=0)
