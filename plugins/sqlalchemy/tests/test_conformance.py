"""The sqlalchemy storage passes the StorageAdapterTests kit on SQLite, PostgreSQL and MariaDB."""

import pytest

from supercompat.testing import StorageAdapterTests


class TestSQLAlchemyStorage(StorageAdapterTests):
    @pytest.fixture
    async def storage_adapter(self, storage):
        return storage
