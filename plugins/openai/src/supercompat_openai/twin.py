"""The async twin of a plain sync ``openai.OpenAI``: its calls awaited on supercompat's loop instead
of run in worker threads (no thread hand-offs per chunk, and kept-alive connections: the sync SDK
drops its connection after each stream; the async one drains it for reuse)."""

from __future__ import annotations

import asyncio
import ssl
import weakref
from typing import Any

import openai
from openai._base_client import AsyncHttpxClientWrapper, SyncHttpxClientWrapper

from supercompat import keep_inherited
from supercompat.clients import on_core_loop


class AsyncTwin:
    """The twin of ``client`` (made on first use, on supercompat's loop only: elsewhere, say a test's
    short-lived loop, the sync client runs in worker threads), closed when its owner goes away."""

    def __init__(self, owner: Any, client: openai.OpenAI) -> None:
        self._owner = weakref.ref(owner)
        self._client = client
        self._settings = twin_settings(client)
        self._twin: openai.AsyncOpenAI | None = None
        self._finalizer: weakref.finalize | None = None

    def get(self) -> openai.AsyncOpenAI | None:
        if self._settings is None or not on_core_loop():
            return None
        if self._twin is None:
            self._twin = openai.AsyncOpenAI(**self._settings, http_client=_twin_http_client(self._client))
            self._finalizer = weakref.finalize(self._owner(), _close_soon, self._twin, asyncio.get_running_loop())
        return self._twin

    def forget(self) -> None:
        """In a forked child: the twin belongs to the parent's loop; the child makes its own."""
        if self._twin is not None:
            self._finalizer.detach()
            keep_inherited(self._twin)
            self._twin = None

    async def aclose(self) -> None:
        if self._twin is not None:
            twin, self._twin = self._twin, None
            self._finalizer.detach()  # closed here, not again when the owner is collected
            await twin.close()


def twin_settings(client: openai.OpenAI) -> dict[str, Any] | None:
    """The settings of an ``AsyncOpenAI`` twin of a plain sync client (a string key, the SDK's own
    HTTP client), or None. Anything else (an ``http_client`` of the caller's, a key callable,
    workload identity, a provider, a subclass) is used as given."""
    plain = (type(client) is openai.OpenAI and isinstance(client.api_key, str)
             and isinstance(client._client, SyncHttpxClientWrapper)
             and getattr(client, "_provider", None) is None and getattr(client, "workload_identity", None) is None
             and getattr(client, "admin_api_key", None) is None)
    if not plain:
        return None
    return {"api_key": client.api_key, "organization": client.organization, "project": client.project,
            "webhook_secret": client.webhook_secret, "base_url": client.base_url,
            "websocket_base_url": client.websocket_base_url, "timeout": client.timeout,
            "max_retries": client.max_retries, "default_headers": client._custom_headers,
            "default_query": client._custom_query,
            "_strict_response_validation": client._strict_response_validation}


def _twin_http_client(client: openai.OpenAI) -> AsyncHttpxClientWrapper | None:
    """The SDK's default async HTTP client, sharing the sync client's TLS context: building a new one
    (loading the CA bundle) is most of the 15-30 ms an ``AsyncOpenAI()`` costs. None (the SDK's own
    default) where httpx2's internals differ from what this expects."""
    pool = getattr(getattr(client._client, "_transport", None), "_pool", None)
    context = getattr(pool, "_ssl_context", None)
    if not isinstance(context, ssl.SSLContext):
        return None
    return AsyncHttpxClientWrapper(base_url=client.base_url, timeout=client.timeout, verify=context)


def _close_soon(twin: openai.AsyncOpenAI, loop: asyncio.AbstractEventLoop) -> None:
    if not loop.is_closed():
        asyncio.run_coroutine_threadsafe(twin.close(), loop)
