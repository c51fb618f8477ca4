import pytest

from supercompat.storage import list_thread_steps, memory_storage_adapter
from supercompat.testing import StorageAdapterTests


class TestMemoryStorage(StorageAdapterTests):
    @pytest.fixture
    async def storage_adapter(self):
        adapter = memory_storage_adapter()
        yield adapter
        await adapter.close()


class _WithoutThreadSteps:
    """An adapter written before the protocol had list_thread_steps."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        if name == "list_thread_steps":
            raise AttributeError(name)
        return getattr(self._inner, name)


class _ThroughTheFallback(_WithoutThreadSteps):
    async def list_thread_steps(self, thread_id, query, *, step_type=None):
        return await list_thread_steps(_WithoutThreadSteps(self._inner), thread_id, query, step_type=step_type)


class TestTheFallbackForOlderAdapters(StorageAdapterTests):
    """supercompat.storage.list_thread_steps gathers the page run by run for older adapters."""

    @pytest.fixture
    async def storage_adapter(self):
        return _ThroughTheFallback(memory_storage_adapter())
