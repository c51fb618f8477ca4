import pytest

from supercompat_sqlalchemy import sqlalchemy_storage_adapter
from supercompat_sqlalchemy.testing import BACKENDS, empty, scratch_database


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request):
    """One scratch database per backend for the session."""
    with scratch_database(request.param) as url:
        yield url


@pytest.fixture
async def storage(database_url):
    """An adapter over the session's database, emptied first."""
    await empty(database_url)
    adapter = sqlalchemy_storage_adapter(database_url)
    yield adapter
    await adapter.close()
