"""The Gemini client adapter over the google-genai SDK (imported only when an adapter is made)."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import pydantic
from google import genai
from google.genai import errors, types
from google.genai.client import AsyncClient

from supercompat.errors import APIError, provider_error_type
from supercompat.providers import ErrorTable, ProviderAdapter, every_item, unreadable

from .translate import StreamedTurn, Turn, as_dict, invalid, to_gemini

REMEMBERED_CALLS = 10_000  # tool calls whose Gemini id / thought signature we keep for the round trip

STATUS_CODES = {429: "rate_limit_exceeded"}


def _api_error(exc: errors.APIError) -> APIError:
    status, code = exc.code or 502, (exc.status or "").lower() or None
    if status == 400 and "API_KEY_INVALID" in json.dumps(exc.details):
        status, code = 401, "invalid_api_key"
    return APIError(exc.message or str(exc), status=status, type=provider_error_type(status),
                    code=STATUS_CODES.get(status, code))


class GoogleClientAdapter(ProviderAdapter):
    """A ClientAdapter over a ``genai.Client`` (its sync methods, run in worker threads) or its
    ``.aio`` async client.

    Errors become :class:`supercompat.errors.APIError`: a Google API error keeps its HTTP status
    (an invalid API key, which Gemini reports as a 400, is a 401) with Google's message and its
    status name, lower-cased, as the code; a timeout is a 504; a connection failure or a response
    that can't be read is a 502.
    """

    plugin = "google"
    client_types = (genai.Client, AsyncClient)
    accepts = "a google.genai.Client or its .aio async client"
    config_errors = (ValueError,)  # typically: no api_key and no GOOGLE_API_KEY / GEMINI_API_KEY
    errors = ErrorTable(
        (errors.APIError, _api_error),
        ((errors.UnknownApiResponseError, pydantic.ValidationError), unreadable),
    )

    def __init__(self, client: genai.Client | AsyncClient, model_map: dict[str, str] | None = None,
                 *, owns_client: bool = False) -> None:
        super().__init__(client, model_map, owns_client=owns_client)
        self._calls: OrderedDict[str, dict[str, Any]] = OrderedDict()

    @classmethod
    def open_client(cls, options: Any) -> AsyncClient:
        http = {"base_url": options.base_url, "api_version": options.api_version,
                "timeout": int(options.timeout * 1000) if options.timeout is not None else None}
        http_options = types.HttpOptions(**{k: v for k, v in http.items() if v is not None})
        client = genai.Client(**cls.given(options, "api_key", "vertexai", "project", "location"),
                              http_options=http_options)
        return client.aio

    def http_clients(self) -> tuple[Any, ...]:
        api = getattr(self.client, "_api_client", None)
        return getattr(api, "_httpx_client", None), getattr(api, "_async_httpx_client", None)

    def _remember(self, call_id: str, gemini: dict[str, Any]) -> None:
        self._calls[call_id] = gemini
        while len(self._calls) > REMEMBERED_CALLS:
            self._calls.popitem(last=False)

    def request(self, params: dict[str, Any], stream: bool) -> dict[str, Any]:
        contents, config = to_gemini(params, self._calls)
        try:  # validated here so that a request Gemini can't take is a 400, not a provider failure
            return {"model": self.model(params),
                    "contents": [types.Content.model_validate(c) for c in contents],
                    "config": types.GenerateContentConfig.model_validate(config)}
        except pydantic.ValidationError as exc:
            raise invalid(f"The request can't be sent to Gemini: {exc}") from exc

    def complete(self, client: Any, request: dict[str, Any]) -> Any:
        return client.models.generate_content(**request)

    def completion(self, response: Any, params: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        return Turn(params, self._remember).completion(as_dict(response))

    def open_stream(self, client: Any, request: dict[str, Any]) -> Any:
        return client.models.generate_content_stream(**request)

    def stream_translator(self, params: dict[str, Any], request: dict[str, Any]) -> StreamedTurn:
        return StreamedTurn(Turn(params, self._remember),
                            bool((params.get("stream_options") or {}).get("include_usage")))

    def fetch_models(self, client: Any) -> Any:
        return every_item(client.models.list())

    def models(self, models: list[Any]) -> list[dict[str, Any]]:
        """Gemini's model list, as OpenAI model objects (``models/`` prefix removed)."""
        return [{"id": (m.name or "").removeprefix("models/"), "object": "model", "created": 0,
                 "owned_by": "google"} for m in models]
