"""The contract with state in SQL: the scripted provider over the sqlalchemy storage on SQLite,
PostgreSQL and MariaDB."""

import pytest

from supercompat.loop import run_async
from supercompat.testing import AssistantsContractTests, scripted_client_adapter
from supercompat_sqlalchemy import sqlalchemy_storage_adapter
from supercompat_sqlalchemy.testing import BACKENDS, empty, scratch_database


@pytest.fixture(scope="module", params=BACKENDS)
def database_url(request):
    with scratch_database(request.param) as url:
        yield url


class TestSQLStorage(AssistantsContractTests):
    @pytest.fixture
    def scripted_provider(self):
        return scripted_client_adapter()

    @pytest.fixture
    async def storage_adapter(self, database_url):
        await empty(database_url)
        adapter = sqlalchemy_storage_adapter(database_url)
        yield adapter
        await run_async(adapter.close())  # its connections live on supercompat's loop
