import pytest

from supercompat.storage import memory_storage_adapter
from supercompat.testing import StorageAdapterTests


class TestMemoryStorage(StorageAdapterTests):
    @pytest.fixture
    async def storage_adapter(self):
        adapter = memory_storage_adapter()
        yield adapter
        await adapter.close()

