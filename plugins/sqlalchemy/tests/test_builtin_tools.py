"""The BuiltinToolTests kit (the engine's built-in tool loop) on SQLite, PostgreSQL and MariaDB."""

import asyncio

import pytest

from supercompat.loop import run_sync
from supercompat.testing import BuiltinToolTests
from supercompat_sqlalchemy import sqlalchemy_storage_adapter
from supercompat_sqlalchemy.testing import empty


class TestSQLAlchemyTools(BuiltinToolTests):
    @pytest.fixture
    def storage_adapter(self, database_url):
        asyncio.run(empty(database_url))
        adapter = sqlalchemy_storage_adapter(database_url)
        yield adapter
        run_sync(adapter.close())
