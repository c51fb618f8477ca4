"""The HostileInputTests kit on SQLite, PostgreSQL and MariaDB: what one storage refuses, all refuse alike,
with the same 400 naming the param, and nothing is stored that a read can't serve."""

import pytest

from supercompat.loop import run_sync
from supercompat.testing import HostileInputTests
from supercompat_sqlalchemy import sqlalchemy_storage_adapter
from supercompat_sqlalchemy.testing import empty


class TestHostileInputOnSQL(HostileInputTests):
    @pytest.fixture
    def storage_adapter(self, database_url):
        run_sync(empty(database_url))
        storage = sqlalchemy_storage_adapter(database_url)
        yield storage
        run_sync(storage.close())  # on supercompat's loop, where its connections live
