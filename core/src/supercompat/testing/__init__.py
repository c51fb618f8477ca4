"""The conformance kit: subclass these test classes to check an adapter of your own.

    from supercompat.testing import StorageAdapterTests

    class TestMyStorage(StorageAdapterTests):
        @pytest.fixture
        async def storage_adapter(self):
            adapter = MyStorage(...)   # an empty store, for this test only
            yield adapter
            await adapter.close()

The kit needs pytest and pytest-asyncio (``asyncio_mode = "auto"``).
"""

from .clients import ClientAdapterTests
from .runs import RunAdapterTests
from .scripted import Reply, ScriptedClientAdapter, scripted_client_adapter
from .storage import StorageAdapterTests

__all__ = ["ClientAdapterTests", "RunAdapterTests", "Reply", "ScriptedClientAdapter", "StorageAdapterTests", "scripted_client_adapter"]


def app_of(client: object) -> object:
    """The supercompat App behind a client made by ``supercompat()`` / ``async_supercompat()``."""
    return client._client._transport.app  # type: ignore[attr-defined]


__all__ += ["app_of"]
