"""Testing helpers and the conformance kit: subclass the kit's classes to check an adapter of your own.

    from supercompat.testing import StorageAdapterTests

    class TestMyStorage(StorageAdapterTests):
        @pytest.fixture
        async def storage_adapter(self):
            adapter = MyStorage(...)   # an empty store, for this test only
            yield adapter
            await adapter.close()

The kit classes need pytest and pytest-asyncio (``asyncio_mode = "auto"``) and are imported on
first use, so the scripted adapter and the fake providers work without pytest installed.
"""

from __future__ import annotations

from typing import Any

from ..scripted import Reply, ScriptedClientAdapter, scripted_client_adapter

_KITS = {"AssistantsContractTests": ".contract", "BuiltinToolTests": ".tool_runs", "ClientAdapterTests": ".clients",
         "HostileInputTests": ".hostile", "ProviderFailureTests": ".failures", "RunAdapterTests": ".runs", "StorageAdapterTests": ".storage"}


def __getattr__(name: str) -> Any:
    if name in _KITS:
        import importlib

        return getattr(importlib.import_module(_KITS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def app_of(client: object) -> object:
    """The supercompat App behind a client made by ``supercompat()`` / ``async_supercompat()``."""
    return client._client._transport.app  # type: ignore[attr-defined]


__all__ = ["AssistantsContractTests", "BuiltinToolTests", "ClientAdapterTests", "HostileInputTests", "ProviderFailureTests", "Reply", "RunAdapterTests",
           "ScriptedClientAdapter", "StorageAdapterTests",
           "app_of", "scripted_client_adapter"]
