from __future__ import annotations

from typing import Any

import pytest

from supercompat import async_supercompat, supercompat
from supercompat.storage.memory import MemoryStorageAdapter
from supercompat.testing.contract import call, collect  # noqa: F401  (shared by the test modules)


@pytest.fixture(params=["sync", "async"])
def client(request: pytest.FixtureRequest) -> Any:
    """The same tests run through ``openai.OpenAI`` and ``openai.AsyncOpenAI``."""
    factory = supercompat if request.param == "sync" else async_supercompat
    return factory(max_retries=0)


class ClosedByTheApp(MemoryStorageAdapter):
    """A memory store that records whether the App closed it."""

    closed = False

    async def close(self) -> None:
        self.closed = True


def storage_closed_by_the_app() -> Any:
    """A kit's ``storage_adapter`` fixture checking, at its teardown, that the kit's client fixture
    closed its App (runs, heartbeat, then storage) first: else the App's heartbeat would go on
    against a store its fixture has closed."""
    store = ClosedByTheApp()
    yield store
    assert store.closed, "the kit's client fixture left its App open"
