"""The Files and Uploads APIs with their metadata in SQL (SQLite, PostgreSQL, MariaDB), through the
real openai SDK, sync and async; the bytes in the memory blob store."""

import pytest

from supercompat.blobs import MemoryBlobStore
from supercompat.loop import run_async
from supercompat.testing import FilesAPITests
from supercompat_sqlalchemy import sqlalchemy_storage_adapter
from supercompat_sqlalchemy.testing import empty


class TestFilesOnSQL(FilesAPITests):
    @pytest.fixture
    async def storage_adapter(self, database_url):
        await empty(database_url)
        adapter = sqlalchemy_storage_adapter(database_url)
        yield adapter
        await run_async(adapter.close())  # its connections live on supercompat's loop

    @pytest.fixture
    def blob_store(self):
        return MemoryBlobStore()

    @pytest.fixture
    def chunked_upload_mib(self):
        return 3  # the 200 MiB upload runs in core; here the parts' order and the SQL records matter
