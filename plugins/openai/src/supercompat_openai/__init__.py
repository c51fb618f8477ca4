"""supercompat client adapter for OpenAI chat completions, and every endpoint that speaks them.

The chat-completions shapes are supercompat's lingua franca, so this adapter passes requests and
chunks through; what it owns is sync/async bridging, ``model_map`` and error mapping.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, contextmanager
from typing import Any

# Core already imports openai (and httpx2), so importing it here costs nothing extra.
import httpx2
import openai
from openai._base_client import AsyncHttpxClientWrapper, SyncHttpxClientWrapper

from supercompat import hookimpl, keep_inherited
from supercompat.clients import (
    ClientOptions,
    call_in_thread,
    forget_pooled_connections,
    iterate_in_thread,
    map_model,
    on_core_loop,
)
from supercompat.errors import (
    APIError,
    BadGateway,
    ConfigError,
    provider_error_type,
    provider_timeout,
    provider_unreachable,
)

__all__ = ["OpenAIClientAdapter", "OpenAIOptions", "openai_client_adapter"]


class OpenAIOptions(ClientOptions):
    """The ``[client]`` section for ``plugin = "openai"``; unset values keep the openai SDK defaults
    (``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` from the environment, 600 s timeout, 2 retries)."""

    organization: str | None = None
    project: str | None = None
    timeout: float | None = None
    max_retries: int | None = None


class OpenAIClientAdapter:
    """A ClientAdapter over an ``openai.OpenAI`` or ``openai.AsyncOpenAI``. A plain sync client is
    called through an async twin (see :func:`_async_twin`); any other runs in worker threads.

    Errors become :class:`supercompat.errors.APIError`: an HTTP error keeps the provider's status,
    message, type, code and param; a timeout is a 504 (we are a gateway whose upstream did not
    answer in time; code ``"timeout"``); a connection failure, an error frame in the middle of a
    stream, or a response that isn't valid JSON is a 502 (type ``"server_error"``). A stream that
    simply stops early ends without a ``finish_reason``; deciding what that means is the caller's.
    """

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI, model_map: dict[str, str] | None = None,
                 *, owns_client: bool = False) -> None:
        if isinstance(client, openai.AsyncOpenAI):
            self.is_async = True
        elif isinstance(client, openai.OpenAI):
            self.is_async = False
        else:
            raise TypeError("openai= takes an openai.OpenAI or openai.AsyncOpenAI, "
                            f"not {type(client).__name__}")
        self.client = client
        self.model_map = dict(model_map or {})
        self._owns_client = owns_client
        self._twin_settings = None if self.is_async else _twin_settings(client)
        self._twin: openai.AsyncOpenAI | None = None

    def _async_client(self) -> openai.AsyncOpenAI | None:
        """The client to await, if any: an async one, or the async twin of a plain sync one. The twin
        lives on supercompat's loop only (elsewhere, say a test's short-lived loop, the sync client
        runs in worker threads) and is closed when the adapter goes away."""
        if self.is_async:
            return self.client
        if self._twin_settings is None or not on_core_loop():
            return None
        if self._twin is None:
            self._twin = openai.AsyncOpenAI(**self._twin_settings, http_client=_twin_http_client(self.client))
            self._twin_finalizer = weakref.finalize(self, _close_soon, self._twin, asyncio.get_running_loop())
        return self._twin

    def _body(self, params: dict[str, Any], stream: bool) -> dict[str, Any]:
        body = {**params, "model": map_model(self.model_map, params["model"]), "stream": stream}
        if not stream:
            body.pop("stream_options", None)  # OpenAI rejects it on a non-streaming request
        return body

    # Requests go through the SDK's generic post() with cast_to=object: its auth, retries, SSE decoding
    # and error frames, without building a pydantic model per chunk (most of its per-chunk cost). The
    # dicts are exactly what the provider sent, and fields the SDK doesn't know (vLLM's top_k, ...)
    # pass through.
    async def chat_completions(self, params: dict[str, Any]) -> dict[str, Any]:
        body = self._body(params, stream=False)
        with _provider_errors():
            if (aclient := self._async_client()) is not None:
                completion = await aclient.post("/chat/completions", body=body, cast_to=object)
            else:
                completion = await call_in_thread(self.client.post, "/chat/completions", body=body,
                                                  cast_to=object)
        return _normalised(completion)  # a str if the body wasn't JSON: the SDK hands back its text

    async def chat_completions_stream(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        body = self._body(params, stream=True)
        with _provider_errors():
            if (aclient := self._async_client()) is not None:
                stream = await aclient.post("/chat/completions", body=body, cast_to=object, stream=True,
                                                stream_cls=openai.AsyncStream[object])
                async with stream:  # closing the response on any early exit aborts the provider call
                    async for chunk in stream:
                        yield _normalised(chunk)
            else:
                chunks = iterate_in_thread(lambda: self.client.post(
                    "/chat/completions", body=body, cast_to=object, stream=True,
                    stream_cls=openai.Stream[object]))
                async with aclosing(chunks):
                    async for chunk in chunks:
                        yield _normalised(chunk)

    async def list_models(self) -> list[dict[str, Any]]:
        """The provider's own model list (``model_map`` aliases are not added)."""
        with _provider_errors():
            if (aclient := self._async_client()) is not None:
                page = await aclient.get("/models", cast_to=object)
            else:
                page = await call_in_thread(self.client.get, "/models", cast_to=object)
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise BadGateway("The model provider did not answer with a model list.")
        return page["data"]

    def after_fork(self) -> None:
        """In a forked child (called by the App): the async twin belongs to the parent's loop, and the
        SDK client's pooled connections are the parent's sockets; the child makes its own."""
        if self._twin is not None:
            self._twin_finalizer.detach()
            keep_inherited(self._twin)
            self._twin = None
        forget_pooled_connections(self.client._client)

    async def aclose(self) -> None:
        """Close the SDK client if this adapter created it (from configuration); a client passed in
        by the caller stays the caller's to close. The async twin is ours."""
        if self._twin is not None:
            twin, self._twin = self._twin, None
            self._twin_finalizer.detach()  # closed here, not again when the adapter is collected
            await twin.close()
        if self._owns_client:
            await self.client.close()


def _twin_settings(client: openai.OpenAI) -> dict[str, Any] | None:
    """The settings of an ``AsyncOpenAI`` twin of a plain sync client (a string key, the SDK's own
    HTTP client), or None. On the twin, calls run on supercompat's loop: no worker thread, two thread
    hand-offs per chunk fewer, and kept-alive connections (the sync SDK drops its connection after
    each stream; the async one drains it for reuse). Anything else (an ``http_client`` of the
    caller's, a key callable, workload identity, a provider, a subclass) is used as given."""
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


def _normalised(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadGateway("The model provider sent something other than a chat completion.")
    # Some compatible endpoints leave out keys that the chat-completions shapes always carry.
    for choice in data.setdefault("choices", []):
        choice.setdefault("finish_reason", None)
        choice.setdefault("logprobs", None)
    return data


@contextmanager
def _provider_errors() -> Iterator[None]:
    try:
        yield
    except openai.APITimeoutError as exc:  # before APIConnectionError, its base class
        raise provider_timeout() from exc
    except openai.APIConnectionError as exc:
        raise provider_unreachable(exc) from exc
    except openai.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        message = body.get("message") if isinstance(body.get("message"), str) else exc.message
        raise APIError(message, status=exc.status_code, type=exc.type or provider_error_type(exc.status_code),
                       code=exc.code, param=exc.param) from exc
    except openai.APIError as exc:  # an error frame mid-stream: the HTTP status was already 200
        raise APIError(exc.message, status=502, type=exc.type or "server_error", code=exc.code,
                       param=exc.param) from exc
    except json.JSONDecodeError as exc:
        raise BadGateway(f"The model provider sent a response that is not valid JSON: {exc}") from exc
    except httpx2.TimeoutException as exc:  # older openai releases let a stream's transport errors through
        raise provider_timeout() from exc
    except httpx2.TransportError as exc:
        raise provider_unreachable(exc) from exc



def openai_client_adapter(openai: openai.OpenAI | openai.AsyncOpenAI,
                          model_map: dict[str, str] | None = None) -> OpenAIClientAdapter:
    """The adapter for an openai SDK client, used as given: its ``base_url``, key, timeout and
    retries apply (point ``base_url`` at any OpenAI-compatible endpoint). ``model_map`` renames
    requested models (``{"gpt-4.1-mini": "llama-3.3-70b"}``); others pass through unchanged."""
    return OpenAIClientAdapter(openai, model_map)


def _from_options(options: OpenAIOptions) -> OpenAIClientAdapter:
    settings = {name: getattr(options, name) for name in
                ("api_key", "base_url", "organization", "project", "timeout", "max_retries")}
    try:
        client = openai.AsyncOpenAI(**{k: v for k, v in settings.items() if v is not None})
    except openai.OpenAIError as exc:  # typically: no api_key and no OPENAI_API_KEY
        raise ConfigError(f'[client] plugin "openai": {exc}') from exc
    return OpenAIClientAdapter(client, options.model_map, owns_client=True)


@hookimpl
def register_client_adapters(register: Any) -> None:
    register("openai", _from_options, OpenAIOptions)
