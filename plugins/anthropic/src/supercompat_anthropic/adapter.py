"""The Anthropic ClientAdapter: Messages API calls through the anthropic SDK, errors in OpenAI's terms."""

from __future__ import annotations

from typing import Any

import anthropic

from supercompat.errors import APIError
from supercompat.providers import ErrorTable, GenericPostAdapter, every_item, timed_out, unreachable

from .translate import StreamTranslator, chat_completion, messages_request

# Anthropic's error types, as the OpenAI status, type and code that a client of OpenAI expects.
ERRORS: dict[str, tuple[int, str, str | None]] = {
    "invalid_request_error": (400, "invalid_request_error", None),
    "request_too_large": (400, "invalid_request_error", "request_too_large"),
    "authentication_error": (401, "invalid_request_error", "invalid_api_key"),
    "billing_error": (429, "insufficient_quota", "insufficient_quota"),  # OpenAI's answer to unpaid bills
    "permission_error": (403, "invalid_request_error", "permission_denied"),
    "not_found_error": (404, "invalid_request_error", None),
    "rate_limit_error": (429, "requests", "rate_limit_exceeded"),
    "api_error": (500, "server_error", None),
    "timeout_error": (504, "server_error", "timeout"),
    "overloaded_error": (503, "server_error", "overloaded"),  # Anthropic's 529; OpenAI says 503
}


def provider_error(status: int, error_type: str | None, message: str) -> APIError:
    """The APIError for an Anthropic error. An error event inside a stream arrives with the stream's
    200, so then only its type tells what went wrong (502 when the type is unknown)."""
    if error_type in ERRORS:
        status, openai_type, code = ERRORS[error_type]
    else:
        status = 502 if status < 400 else status
        openai_type, code = ("server_error" if status >= 500 else "invalid_request_error"), None
    return APIError(message, status=status, type=openai_type, code=code)


class AnthropicClientAdapter(GenericPostAdapter):
    """A ClientAdapter over an ``anthropic.Anthropic`` (run in worker threads) or ``anthropic.AsyncAnthropic``.

    Provider errors become :class:`supercompat.errors.APIError` by Anthropic's error type (see
    ``ERRORS``; an unknown type keeps the HTTP status); a timeout is a 504, a connection failure or a
    response that isn't JSON a 502. An error event in the middle of a stream maps by its type too.
    """

    plugin = "anthropic"
    client_types = (anthropic.Anthropic, anthropic.AsyncAnthropic)
    # Through the SDK's generic post(): event types it doesn't know yet arrive too (the translator skips them).
    path, stream_types = "/v1/messages", (anthropic.Stream, anthropic.AsyncStream)
    accepts = "an anthropic.Anthropic or anthropic.AsyncAnthropic"
    errors = ErrorTable(
        (anthropic.APITimeoutError, timed_out),  # before APIConnectionError, its base class
        (anthropic.APIConnectionError, unreachable),
        (anthropic.APIStatusError,
         lambda exc: provider_error(exc.status_code, exc.type, exc.api_message or exc.message)),
    )

    def __init__(self, client: anthropic.Anthropic | anthropic.AsyncAnthropic,
                 model_map: dict[str, str] | None = None, max_tokens: int | None = None, *,
                 owns_client: bool = False) -> None:
        super().__init__(client, model_map, owns_client=owns_client)
        self.max_tokens = max_tokens

    @classmethod
    def open_client(cls, options: Any) -> anthropic.AsyncAnthropic:
        import os

        if not (options.api_key or os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
            raise cls.config_error("set api_key, or ANTHROPIC_API_KEY in the environment.")
        return anthropic.AsyncAnthropic(**cls.given(options, "api_key", "base_url", "timeout", "max_retries"))

    @classmethod
    def adapter_settings(cls, options: Any) -> dict[str, Any]:
        return {"max_tokens": options.max_tokens}

    def request(self, params: dict[str, Any], stream: bool) -> dict[str, Any]:
        return messages_request(params, model=self.model(params), max_tokens=self.max_tokens, stream=stream)

    def completion(self, message: Any, params: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return chat_completion(message)

    def stream_translator(self, params: dict[str, Any], body: dict[str, Any]) -> StreamTranslator:
        return StreamTranslator(include_usage=bool((params.get("stream_options") or {}).get("include_usage")))

    def fetch_models(self, client: Any) -> Any:
        return every_item(client.models.list())

    def models(self, models: list[Any]) -> list[dict[str, Any]]:
        return [{"id": m.id, "object": "model", "created": int(m.created_at.timestamp()), "owned_by": "anthropic"}
                for m in models]
