"""The template's ClientAdapter: the provider shell (:class:`supercompat.providers.ProviderAdapter`)
with this provider's SDK types, translation hooks and error table; nothing else.

httpx2 stands in for a provider SDK here (``httpx2.Client`` / ``httpx2.AsyncClient`` pointed at the
provider); with a real SDK, the hooks call its methods and ``_events`` below is the SDK's job.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2

from supercompat.errors import APIError, provider_error_type
from supercompat.providers import ErrorTable, ProviderAdapter

from .translate import StreamTranslator, completion, model_list, to_provider

DEFAULT_BASE_URL = "https://api.example.com"


def _status_error(exc: httpx2.HTTPStatusError) -> APIError:
    """The provider's HTTP error, with its status and message, in OpenAI's terms."""
    status = exc.response.status_code
    try:
        error = exc.response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    code = error.get("code") or ("invalid_api_key" if status == 401 else None)  # as OpenAI says it
    return APIError(error.get("message") or exc.response.text or f"HTTP {status}", status=status,
                    type=provider_error_type(status), code=code)


def _checked(response: httpx2.Response) -> httpx2.Response:
    response.raise_for_status()
    return response


class TemplateClientAdapter(ProviderAdapter):
    """A ClientAdapter over an ``httpx2.Client`` (run in worker threads) or ``httpx2.AsyncClient``
    whose ``base_url`` is the provider's. HTTP errors keep their status and message; a timeout is a
    504, a connection failure or an answer that can't be read a 502."""

    plugin = "template"
    client_types = (httpx2.Client, httpx2.AsyncClient)
    accepts = "an httpx2.Client or httpx2.AsyncClient"
    errors = ErrorTable((httpx2.HTTPStatusError, _status_error))

    @classmethod
    def open_client(cls, options: Any) -> httpx2.AsyncClient:
        if not options.api_key:
            raise cls.config_error("set api_key")
        return httpx2.AsyncClient(base_url=options.base_url or DEFAULT_BASE_URL, timeout=options.timeout,
                                  headers={"authorization": f"Bearer {options.api_key}"})

    # translation
    def request(self, params: dict[str, Any], stream: bool) -> dict[str, Any]:
        return to_provider(params, self.model(params), stream)

    def complete(self, client: Any, body: dict[str, Any]) -> Any:
        return client.post("/v1/generate", json=body)

    def completion(self, response: httpx2.Response, params: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return completion(_checked(response).json())

    def open_stream(self, client: Any, body: dict[str, Any]) -> Any:
        return _async_events(client, body) if isinstance(client, httpx2.AsyncClient) else _events(client, body)

    def stream_translator(self, params: dict[str, Any], body: dict[str, Any]) -> StreamTranslator:
        return StreamTranslator(body["model"], bool((params.get("stream_options") or {}).get("include_usage")))

    def fetch_models(self, client: Any) -> Any:
        return client.get("/v1/models")

    def models(self, response: httpx2.Response) -> list[dict[str, Any]]:
        return model_list(_checked(response).json())


# What a provider SDK does for you: read the server-sent events of a streamed answer.
def _events(client: httpx2.Client, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    with client.stream("POST", "/v1/generate", json=body) as response:
        if response.is_error:
            response.read()
            response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: "):
                yield json.loads(line[len("data: "):])


async def _async_events(client: httpx2.AsyncClient, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    async with client.stream("POST", "/v1/generate", json=body) as response:
        if response.is_error:
            await response.aread()
            response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                yield json.loads(line[len("data: "):])
