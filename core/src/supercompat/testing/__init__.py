"""Testing helpers and the conformance kit: subclass the kit's classes to check an adapter of your own.

    from supercompat.testing import StorageAdapterTests

    class TestMyStorage(StorageAdapterTests):
        @pytest.fixture
        async def storage_adapter(self):
            adapter = MyStorage(...)   # an empty store, for this test only
            yield adapter
            await adapter.close()

The kits need pytest and pytest-asyncio (``asyncio_mode = "auto"``) only to run: their modules
import without pytest, so the scripted adapter, the fake providers and the record builders work
where it isn't installed. A subclass keeps every test of its kit, or marks its replacement
``@pytest.mark.xfail(reason="...")`` (see :mod:`supercompat.testing.kit`). Under pytest, the modules
here get pytest's assertion rewriting, so a kit's failing assertion shows the values it compared.
"""

from __future__ import annotations

import pkgutil
import sys
from typing import TYPE_CHECKING, Any

from ..scripted import Reply, ScriptedClientAdapter, scripted_client_adapter

if TYPE_CHECKING:
    import openai

    from ..app import App

if sys.modules.get("pytest"):  # before the kit modules are imported: rewriting takes only at a module's import
    sys.modules["pytest"].register_assert_rewrite(*(
        name for name in (f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__)) if name not in sys.modules))

_KITS = {"AssistantsContractTests": ".contract", "BlobStoreTests": ".blobs", "BuiltinToolTests": ".tool_runs",
         "ChunkIndexTests": ".search", "ClientAdapterTests": ".clients",
         "CodeInterpreterTests": ".code_interpreter", "EmbedderTests": ".embedders",
         "FileSearchTests": ".file_search", "FilesAPITests": ".files",
         "HostileInputTests": ".hostile",
         "ProviderFailureTests": ".failures", "RunAdapterTests": ".runs", "SandboxTests": ".sandboxes",
         "StorageAdapterTests": ".storage",
         "VectorStoresAPITests": ".vector_stores"}


def __getattr__(name: str) -> Any:
    if name in _KITS:
        import importlib

        return getattr(importlib.import_module(_KITS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def app_of(client: openai.OpenAI | openai.AsyncOpenAI) -> App:
    """The supercompat App behind a client made by ``supercompat()`` / ``async_supercompat()``."""
    from ..transport import SupercompatTransport

    transport = client._client._transport
    if not isinstance(transport, SupercompatTransport):
        raise TypeError("not a client made by supercompat() or async_supercompat()")
    return transport.app


__all__ = ["AssistantsContractTests", "BlobStoreTests", "BuiltinToolTests", "ChunkIndexTests", "ClientAdapterTests",
           "CodeInterpreterTests", "EmbedderTests", "FileSearchTests",
           "FilesAPITests", "HostileInputTests",
           "ProviderFailureTests", "Reply", "RunAdapterTests", "SandboxTests", "ScriptedClientAdapter",
           "StorageAdapterTests", "VectorStoresAPITests", "app_of", "scripted_client_adapter"]
