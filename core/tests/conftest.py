from __future__ import annotations

import inspect
from typing import Any

import pytest

from supercompat import async_supercompat, supercompat


@pytest.fixture(params=["sync", "async"])
def client(request: pytest.FixtureRequest) -> Any:
    """The same tests run through ``openai.OpenAI`` and ``openai.AsyncOpenAI``."""
    factory = supercompat if request.param == "sync" else async_supercompat
    return factory(max_retries=0)


async def call(value: Any) -> Any:
    """Await what the async client returns; pass the sync client's results through."""
    return await value if inspect.isawaitable(value) else value


async def collect(paginator: Any) -> list[Any]:
    """Every item of an SDK list, through the SDK's own auto-paging iterator."""
    if hasattr(paginator, "__aiter__"):
        return [item async for item in paginator]
    return list(paginator)
