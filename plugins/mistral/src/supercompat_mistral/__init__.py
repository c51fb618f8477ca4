"""supercompat client adapter for Mistral, through the official ``mistralai`` SDK.

The SDK is imported only when an adapter is built, so having this plugin installed costs nothing
until ``plugin = "mistral"`` is chosen. The translation itself lives in :mod:`.translate`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, contextmanager
from typing import Any, Literal

from supercompat import hookimpl
from supercompat.clients import ClientOptions, call_in_thread, iterate_in_thread, map_model
from supercompat.errors import (
    APIError,
    BadGateway,
    ConfigError,
    provider_error_type,
    provider_timeout,
    provider_unreachable,
)

from .translate import StreamTranslator, completion, to_mistral

__all__ = ["MistralClientAdapter", "MistralOptions", "mistral_client_adapter"]


class MistralOptions(ClientOptions):
    """The ``[client]`` section for ``plugin = "mistral"``. ``base_url`` is another name for
    ``server_url`` (the host, without ``/v1``); unset values keep the SDK's defaults
    (``MISTRAL_API_KEY``, ``https://api.mistral.ai``, no retries)."""

    server_url: str | None = None
    server: Literal["global", "eu", "us"] | None = None
    timeout: float | None = None  # seconds


class MistralClientAdapter:
    """A ClientAdapter over a ``mistralai.client.Mistral``, using its async methods (``*_async``)
    or its sync ones in worker threads.

    Errors become :class:`supercompat.errors.APIError`: an HTTP error keeps Mistral's status and
    message (a 422 schema error is OpenAI's 400); a timeout is a 504 (code ``"timeout"``); a
    connection failure, a response that is not a valid Mistral chunk, or ``finish_reason: "error"``
    is a 502 (type ``"server_error"``).
    """

    def __init__(self, client: Any, model_map: dict[str, str] | None = None, *, use_async: bool | None = None,
                 owns_client: bool = False) -> None:
        from mistralai.client import Mistral

        if not isinstance(client, Mistral):
            raise TypeError(f"mistral= takes a mistralai.client.Mistral, not {type(client).__name__}")
        config = client.sdk_configuration
        if use_async is None:  # a client built with only a sync http client= wants that one used
            use_async = config.async_client_supplied or not config.client_supplied
        self.client = client
        self.is_async = use_async
        self.model_map = dict(model_map or {})
        self._owns_client = owns_client

    def _request(self, params: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        return to_mistral(params, map_model(self.model_map, params["model"]))

    async def chat_completions(self, params: dict[str, Any]) -> dict[str, Any]:
        request, prefix = self._request(params)
        with _provider_errors():
            if self.is_async:
                response = await self.client.chat.complete_async(**request)
            else:
                response = await call_in_thread(self.client.chat.complete, **request)
        return completion(_dump(response), prefix)

    async def chat_completions_stream(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        request, prefix = self._request(params)
        translator = StreamTranslator(prefix, bool((params.get("stream_options") or {}).get("include_usage")))
        with _provider_errors():
            if self.is_async:
                stream = await self.client.chat.stream_async(**request)
                async with stream:  # closing the response on any early exit aborts the provider call
                    async for event in stream:
                        yield translator.chunk(_dump(event.data))
            else:
                events = iterate_in_thread(lambda: self.client.chat.stream(**request))
                async with aclosing(events):
                    async for event in events:
                        yield translator.chunk(_dump(event.data))
        for chunk in translator.end():
            yield chunk

    async def list_models(self) -> list[dict[str, Any]]:
        """Mistral's model list in OpenAI's shape (``model_map`` aliases are not added)."""
        with _provider_errors():
            if self.is_async:
                page = await self.client.models.list_async()
            else:
                page = await call_in_thread(self.client.models.list)
        return [{"id": m.id, "object": "model", "created": m.created or 0, "owned_by": m.owned_by or "mistralai"}
                for m in page.data or () if isinstance(getattr(m, "id", None), str)]

    async def aclose(self) -> None:
        """Close the SDK's http clients if this adapter created the SDK client (from configuration);
        a client passed in stays the caller's to close."""
        if self._owns_client:
            await self.client.__aexit__(None, None, None)
            self.client.__exit__(None, None, None)


def _dump(model: Any) -> dict[str, Any]:
    # warnings=False: values Mistral sends beyond the SDK's enums (finish_reason "model_length" on a
    # stream chunk) are kept as they are, without a serializer warning each time.
    return model.model_dump(by_alias=True, warnings=False)


def _error_fields(body: str | None) -> dict[str, Any]:
    """``message``, ``type``, ``code`` and ``param`` from a Mistral error body, where it has them."""
    try:
        data = json.loads(body or "")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    message = data.get("message", data.get("detail"))
    if isinstance(message, dict):  # {"detail": [...]} nested in the message
        message = message.get("detail", message)
    if isinstance(message, list):  # pydantic-style details: [{"loc": [...], "msg": ...}]
        message = "; ".join(f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}"
                            if isinstance(d, dict) else str(d) for d in message)
    code = data.get("code")
    return {"message": message if isinstance(message, str) else None,
            "type": data.get("type") if isinstance(data.get("type"), str) else None,
            "code": str(code) if code is not None else None,
            "param": data.get("param") if isinstance(data.get("param"), str) else None}



@contextmanager
def _provider_errors() -> Iterator[None]:
    import httpx2
    from mistralai.client import errors

    try:
        yield
    except errors.ResponseValidationError as exc:  # a body or chunk that isn't Mistral's shape
        detail = _error_fields(exc.body).get("message") or str(exc.cause)
        raise BadGateway(
            f"The model provider sent a response that is not a valid chat completion: {detail}") from exc
    except errors.MistralError as exc:  # SDKError, HTTPValidationError
        fields = _error_fields(exc.body)
        if exc.status_code < 400:  # e.g. a 200 that isn't JSON or an event stream
            raise BadGateway(
                f"The model provider sent an unexpected response (HTTP {exc.status_code}).") from exc
        # Mistral's 422 is its schema check of the request: OpenAI says 400 for the same.
        status = 400 if exc.status_code == 422 else exc.status_code
        code = fields.get("code") or ("invalid_api_key" if status == 401 else None)  # as OpenAI says it
        raise APIError(fields.get("message") or exc.body or exc.message, status=status,
                       type=fields.get("type") or provider_error_type(status), code=code,
                       param=fields.get("param")) from exc
    except httpx2.TimeoutException as exc:  # before TransportError, its base class
        raise provider_timeout() from exc
    except (httpx2.TransportError, errors.NoResponseError) as exc:
        raise provider_unreachable(exc) from exc


def mistral_client_adapter(mistral: Any, model_map: dict[str, str] | None = None, *,
                           use_async: bool | None = None) -> MistralClientAdapter:
    """The adapter for a ``mistralai.client.Mistral``, used as given: its ``server_url``, key,
    http clients, timeout and retries apply. Its async methods are used unless it was built with
    only a sync ``client=`` (or ``use_async=False``). ``model_map`` renames requested models
    (``{"gpt-4.1-mini": "mistral-small-latest"}``); others pass through unchanged."""
    return MistralClientAdapter(mistral, model_map, use_async=use_async)


def _from_options(options: MistralOptions) -> MistralClientAdapter:
    import os

    from mistralai.client import Mistral

    if options.server_url and options.base_url:
        raise ConfigError('[client] plugin "mistral": set server_url or base_url, not both')
    api_key = options.api_key or os.environ.get("MISTRAL_API_KEY")
    if not api_key:
        raise ConfigError('[client] plugin "mistral": no api_key, and MISTRAL_API_KEY is not set')
    client = Mistral(api_key=api_key, server_url=options.server_url or options.base_url, server=options.server,
                     timeout_ms=int(options.timeout * 1000) if options.timeout is not None else None)
    return MistralClientAdapter(client, options.model_map, use_async=True, owns_client=True)


@hookimpl
def register_client_adapters(register: Any) -> None:
    register("mistral", _from_options, MistralOptions)
