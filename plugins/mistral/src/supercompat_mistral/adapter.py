"""The Mistral ClientAdapter: chat calls through the mistralai SDK, errors in OpenAI's terms."""

from __future__ import annotations

import json
from typing import Any

from mistralai.client import Mistral, errors

from supercompat.errors import APIError, BadGateway, provider_error_type
from supercompat.providers import ErrorTable, ProviderAdapter, unreachable

from .translate import StreamTranslator, completion, dump, to_mistral


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


def _not_a_chunk(exc: errors.ResponseValidationError) -> APIError:
    """A body or chunk that isn't Mistral's shape."""
    detail = _error_fields(exc.body).get("message") or str(exc.cause)
    return BadGateway(f"The model provider sent a response that is not a valid chat completion: {detail}")


def _status_error(exc: errors.MistralError) -> APIError:
    """SDKError, HTTPValidationError."""
    if exc.status_code < 400:  # e.g. a 200 that isn't JSON or an event stream
        return BadGateway(f"The model provider sent an unexpected response (HTTP {exc.status_code}).")
    fields = _error_fields(exc.body)
    # Mistral's 422 is its schema check of the request: OpenAI says 400 for the same.
    status = 400 if exc.status_code == 422 else exc.status_code
    code = fields.get("code") or ("invalid_api_key" if status == 401 else None)  # as OpenAI says it
    return APIError(fields.get("message") or exc.body or exc.message, status=status,
                    type=fields.get("type") or provider_error_type(status), code=code, param=fields.get("param"))


class MistralClientAdapter(ProviderAdapter):
    """A ClientAdapter over a ``mistralai.client.Mistral``, using its async methods (``*_async``)
    or its sync ones in worker threads.

    Errors become :class:`supercompat.errors.APIError`: an HTTP error keeps Mistral's status and
    message (a 422 schema error is OpenAI's 400); a timeout is a 504 (code ``"timeout"``); a
    connection failure, a response that is not a valid Mistral chunk, or ``finish_reason: "error"``
    is a 502 (type ``"server_error"``).
    """

    plugin = "mistral"
    errors = ErrorTable(
        (errors.ResponseValidationError, _not_a_chunk),  # before MistralError, its base class
        (errors.MistralError, _status_error),
        (errors.NoResponseError, unreachable),
    )

    def __init__(self, client: Any, model_map: dict[str, str] | None = None, *, use_async: bool | None = None,
                 owns_client: bool = False) -> None:
        self._use_async = use_async
        super().__init__(client, model_map, owns_client=owns_client)

    def detect_async(self, client: Any) -> bool:
        """One client for both: its ``*_async`` methods unless it was built with only a sync http
        client (which it then wants used), or ``use_async`` says otherwise."""
        if not isinstance(client, Mistral):
            raise TypeError(f"mistral= takes a mistralai.client.Mistral, not {type(client).__name__}")
        if self._use_async is not None:
            return self._use_async
        config = client.sdk_configuration
        return config.async_client_supplied or not config.client_supplied

    @classmethod
    def open_client(cls, options: Any) -> Mistral:
        import os

        if options.server_url and options.base_url:
            raise cls.config_error("set server_url or base_url, not both")
        api_key = options.api_key or os.environ.get("MISTRAL_API_KEY")
        if not api_key:
            raise cls.config_error("no api_key, and MISTRAL_API_KEY is not set")
        return Mistral(api_key=api_key, server_url=options.server_url or options.base_url, server=options.server,
                       timeout_ms=int(options.timeout * 1000) if options.timeout is not None else None)

    @classmethod
    def adapter_settings(cls, options: Any) -> dict[str, Any]:
        return {"use_async": True}

    def http_clients(self) -> tuple[Any, ...]:
        config = self.client.sdk_configuration
        return config.client, config.async_client

    async def close_client(self) -> None:
        """Close the SDK's http clients."""
        await self.client.__aexit__(None, None, None)
        self.client.__exit__(None, None, None)

    def request(self, params: dict[str, Any], stream: bool) -> tuple[dict[str, Any], str | None]:
        return to_mistral(params, self.model(params))  # the request, and the prefix the answer echoes

    def complete(self, client: Mistral, request: tuple[dict[str, Any], str | None]) -> Any:
        kwargs = request[0]
        return client.chat.complete_async(**kwargs) if self.is_async else client.chat.complete(**kwargs)

    def completion(self, response: Any, params: dict[str, Any],
                   request: tuple[dict[str, Any], str | None]) -> dict[str, Any]:
        return completion(dump(response), request[1])

    def open_stream(self, client: Mistral, request: tuple[dict[str, Any], str | None]) -> Any:
        kwargs = request[0]
        return client.chat.stream_async(**kwargs) if self.is_async else client.chat.stream(**kwargs)

    def stream_translator(self, params: dict[str, Any], request: tuple[dict[str, Any], str | None]) -> StreamTranslator:
        return StreamTranslator(request[1], bool((params.get("stream_options") or {}).get("include_usage")))

    def fetch_models(self, client: Mistral) -> Any:
        return client.models.list_async() if self.is_async else client.models.list()

    def models(self, page: Any) -> list[dict[str, Any]]:
        return [{"id": m.id, "object": "model", "created": m.created or 0, "owned_by": m.owned_by or "mistralai"}
                for m in page.data or () if isinstance(getattr(m, "id", None), str)]
