"""The memory blob store passes the BlobStoreTests kit."""

import pytest

from supercompat.blobs import memory_blob_store
from supercompat.testing import BlobStoreTests


class TestMemoryBlobStore(BlobStoreTests):
    @pytest.fixture
    async def blob_store(self):
        store = memory_blob_store()
        yield store
        await store.close()
