"""The Gemini client adapter over the google-genai SDK (imported only when an adapter is made)."""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, contextmanager, suppress
from typing import Any

import httpx2
import pydantic
from google import genai
from google.genai import errors, types
from google.genai.client import AsyncClient

from supercompat.clients import call_in_thread, forget_pooled_connections, iterate_in_thread, map_model
from supercompat.errors import (
    APIError,
    BadGateway,
    provider_error_type,
    provider_timeout,
    provider_unreachable,
)

from .translate import Turn, invalid, to_gemini

REMEMBERED_CALLS = 10_000  # tool calls whose Gemini id / thought signature we keep for the round trip


class GoogleClientAdapter:
    """A ClientAdapter over a ``genai.Client`` (its sync methods, run in worker threads) or its
    ``.aio`` async client.

    Errors become :class:`supercompat.errors.APIError`: a Google API error keeps its HTTP status
    (an invalid API key, which Gemini reports as a 400, is a 401) with Google's message and its
    status name, lower-cased, as the code; a timeout is a 504; a connection failure or a response
    that can't be read is a 502.
    """

    def __init__(self, client: genai.Client | AsyncClient, model_map: dict[str, str] | None = None,
                 *, owns_client: bool = False) -> None:
        if isinstance(client, AsyncClient):
            self.is_async = True
        elif isinstance(client, genai.Client):
            self.is_async = False
        else:
            raise TypeError("google= takes a google.genai.Client or its .aio async client, "
                            f"not {type(client).__name__}")
        self.client = client
        self.model_map = dict(model_map or {})
        self._owns_client = owns_client
        self._calls: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def after_fork(self) -> None:
        """In a forked child (called by the App): the SDK client's pooled connections are the parent's."""
        api = getattr(self.client, "_api_client", None)
        for http_client in (getattr(api, "_httpx_client", None), getattr(api, "_async_httpx_client", None)):
            forget_pooled_connections(http_client)

    def _remember(self, call_id: str, gemini: dict[str, Any]) -> None:
        self._calls[call_id] = gemini
        while len(self._calls) > REMEMBERED_CALLS:
            self._calls.popitem(last=False)

    def _request(self, params: dict[str, Any]) -> dict[str, Any]:
        contents, config = to_gemini(params, self._calls)
        try:  # validated here so that a request Gemini can't take is a 400, not a provider failure
            return {"model": map_model(self.model_map, params["model"]),
                    "contents": [types.Content.model_validate(c) for c in contents],
                    "config": types.GenerateContentConfig.model_validate(config)}
        except pydantic.ValidationError as exc:
            raise invalid(f"The request can't be sent to Gemini: {exc}") from exc

    async def chat_completions(self, params: dict[str, Any]) -> dict[str, Any]:
        request = self._request(params)
        with _provider_errors():
            if self.is_async:
                response = await self.client.models.generate_content(**request)
            else:
                response = await call_in_thread(self.client.models.generate_content, **request)
            return Turn(params, self._remember).completion(_as_dict(response))

    async def chat_completions_stream(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        request = self._request(params)
        turn = Turn(params, self._remember)
        include_usage = bool((params.get("stream_options") or {}).get("include_usage"))
        with _provider_errors():
            if self.is_async:
                responses = _pumped(await self.client.models.generate_content_stream(**request))
            else:
                responses = iterate_in_thread(lambda: self.client.models.generate_content_stream(**request))
            async with aclosing(responses):  # closing early ends the provider call
                started = False
                async for response in responses:
                    if not started:  # only once Gemini answers: a refusal then fails before any chunk
                        started = True
                        yield turn.chunk({"role": "assistant", "content": ""})
                    for chunk in turn.chunks(_as_dict(response)):
                        yield chunk
            for chunk in turn.ending(include_usage):
                yield chunk

    async def list_models(self) -> list[dict[str, Any]]:
        """Gemini's model list, as OpenAI model objects (``models/`` prefix removed)."""
        with _provider_errors():
            if self.is_async:
                models = [m async for m in await self.client.models.list()]
            else:
                models = await call_in_thread(lambda: list(self.client.models.list()))
        return [{"id": (m.name or "").removeprefix("models/"), "object": "model", "created": 0,
                 "owned_by": "google"} for m in models]

    async def aclose(self) -> None:
        """Close the SDK client if this adapter created it (from configuration)."""
        if self._owns_client:
            await self.client.aclose()


async def _pumped(responses: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """The SDK's async stream, read by a task of its own so that stopping early cancels the read in
    flight. The SDK nests async generators that a plain aclose() leaves suspended, holding the HTTP
    response open until a garbage collection; a cancelled read unwinds them all. (No backpressure: a
    model turn is small.)"""
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for item in responses:
                queue.put_nowait((True, item))
        except Exception as exc:  # handed to the consumer, raised there
            queue.put_nowait((False, exc))
        else:
            queue.put_nowait((False, None))

    task = asyncio.create_task(pump())
    try:
        while True:
            more, item = await queue.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def _as_dict(response: Any) -> dict[str, Any]:
    return response.model_dump(mode="json", by_alias=True, exclude_none=True)


STATUS_CODES = {429: "rate_limit_exceeded"}


@contextmanager
def _provider_errors() -> Iterator[None]:
    try:
        yield
    except errors.APIError as exc:
        status, code = exc.code or 502, (exc.status or "").lower() or None
        message = exc.message or str(exc)
        if status == 400 and "API_KEY_INVALID" in json.dumps(exc.details):
            status, code = 401, "invalid_api_key"
        raise APIError(message, status=status, type=provider_error_type(status),
                       code=STATUS_CODES.get(status, code)) from exc
    except httpx2.TimeoutException as exc:
        raise provider_timeout() from exc
    except httpx2.TransportError as exc:
        raise provider_unreachable(exc) from exc
    except (errors.UnknownApiResponseError, pydantic.ValidationError, json.JSONDecodeError) as exc:
        raise BadGateway(f"The model provider sent a response that can't be read: {exc}") from exc
