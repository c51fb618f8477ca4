"""The FileSearchTests kit on SQLite, PostgreSQL and MariaDB: file_search over the SQL storage and its
chunk index, the scripted model behind it (one openai client kind: core's tests run both)."""

import pytest

from supercompat.loop import run_async
from supercompat.testing import FileSearchTests
from supercompat.testing.file_search import in_process_client
from supercompat_sqlalchemy import sqlalchemy_storage_adapter
from supercompat_sqlalchemy.testing import empty


class TestFileSearchOnSQL(FileSearchTests):
    client = in_process_client()

    @pytest.fixture
    async def storage_adapter(self, database_url):
        await empty(database_url)
        adapter = sqlalchemy_storage_adapter(database_url)
        yield adapter
        await run_async(adapter.close())  # its connections live on supercompat's loop
