"""supercompat: the OpenAI Assistants API v2 on any provider, inside the real openai SDK."""

from __future__ import annotations

import itertools
from typing import Any

import openai

from .app import App
from .hookspecs import hookimpl
from .loop import keep_inherited
from .transport import SupercompatTransport

BASE_URL = "http://supercompat.local/v1"
API_KEY = "supercompat"

__version__ = "0.1.0"


# The first openai release on httpx2, whose transports SupercompatTransport implements. Older ones (1.x,
# 2.x) speak httpx: every request would fail deep inside the SDK.
OPENAI_FLOOR = (3, 0, 0)


def check_openai_version(version: str) -> None:
    """Raise ConfigError unless openai ``version`` can carry an in-process client."""
    from .errors import ConfigError

    parts = []
    for part in version.split(".")[:3]:
        digits = "".join(itertools.takewhile(str.isdigit, part))
        parts.append(int(digits or 0))
        if digits != part:
            break  # "3.1.0rc1" -> (3, 1, 0)
    if tuple(parts) < OPENAI_FLOOR:
        floor = ".".join(map(str, OPENAI_FLOOR))
        raise ConfigError(
            f"supercompat's in-process clients need openai>={floor}, and openai {version} is installed: "
            f"pip install 'openai>={floor}'. Server mode (`supercompat serve`) works with every openai "
            f"version, in any language: point the client's base_url at the server instead.")


def _app(client_adapter: Any, storage_adapter: Any, run_adapter: Any, tools: Any, blob_store: Any,
         embedder: Any, chunk_index: Any, sandbox: Any) -> App:
    check_openai_version(openai.__version__)
    return App(client_adapter=client_adapter, storage_adapter=storage_adapter, run_adapter=run_adapter, tools=tools,
               blob_store=blob_store, embedder=embedder, chunk_index=chunk_index, sandbox=sandbox)


def supercompat(*, client_adapter: Any = None, storage_adapter: Any = None, run_adapter: Any = None,
                tools: Any = None, blob_store: Any = None, embedder: Any = None, chunk_index: Any = None,
                sandbox: Any = None, **openai_options: Any) -> openai.OpenAI:
    """A genuine ``openai.OpenAI`` whose requests are answered in process.

    ``storage_adapter`` defaults to memory and ``run_adapter`` to completions; ``tools`` (built-in
    tool executors, see ``supercompat.tools``) to every one the installed plugins register;
    ``blob_store`` (where file bytes live) to the storage adapter's default, else memory;
    ``embedder`` (what answers ``embeddings.create``, see ``supercompat.embedders``) to none;
    ``chunk_index`` (where vector stores' chunks are searched, see ``supercompat.search``) to the
    storage adapter's default, else memory; ``sandbox`` (where code_interpreter runs code, see
    ``supercompat.sandboxes``) to core's bubblewrap one if ``bwrap`` is installed, else none;
    ``openai_options`` go to ``openai.OpenAI``
    (``max_retries``, ``timeout``, ...)."""
    app = _app(client_adapter, storage_adapter, run_adapter, tools, blob_store, embedder, chunk_index,
               sandbox)
    return openai.OpenAI(api_key=openai_options.pop("api_key", API_KEY), base_url=BASE_URL,
                         http_client=openai.DefaultHttpxClient(transport=SupercompatTransport(app)),
                         **openai_options)


def async_supercompat(*, client_adapter: Any = None, storage_adapter: Any = None, run_adapter: Any = None,
                      tools: Any = None, blob_store: Any = None, embedder: Any = None,
                      chunk_index: Any = None, sandbox: Any = None,
                      **openai_options: Any) -> openai.AsyncOpenAI:
    """Like :func:`supercompat`, returning ``openai.AsyncOpenAI``."""
    app = _app(client_adapter, storage_adapter, run_adapter, tools, blob_store, embedder, chunk_index,
               sandbox)
    return openai.AsyncOpenAI(api_key=openai_options.pop("api_key", API_KEY), base_url=BASE_URL,
                              http_client=openai.DefaultAsyncHttpxClient(transport=SupercompatTransport(app)),
                              **openai_options)


def from_config(path: Any = None, **openai_options: Any) -> openai.OpenAI:
    """Build the client described by ``supercompat.toml`` (or ``$SUPERCOMPAT_CONFIG``)."""
    from .config import load_adapters

    return supercompat(**load_adapters(path), **openai_options)


def async_from_config(path: Any = None, **openai_options: Any) -> openai.AsyncOpenAI:
    from .config import load_adapters

    return async_supercompat(**load_adapters(path), **openai_options)


__all__ = ["App", "OPENAI_FLOOR", "SupercompatTransport", "async_from_config", "async_supercompat",
           "check_openai_version", "from_config", "hookimpl", "keep_inherited", "supercompat"]
