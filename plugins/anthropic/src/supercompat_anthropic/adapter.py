"""The Anthropic ClientAdapter: Messages API calls through the anthropic SDK, errors in OpenAI's terms."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, contextmanager
from typing import Any

import anthropic

from supercompat.clients import call_in_thread, forget_pooled_connections, iterate_in_thread, map_model
from supercompat.errors import APIError, BadGateway, provider_timeout, provider_unreachable

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


class AnthropicClientAdapter:
    """A ClientAdapter over an ``anthropic.Anthropic`` (run in worker threads) or ``anthropic.AsyncAnthropic``.

    Provider errors become :class:`supercompat.errors.APIError` by Anthropic's error type (see
    ``ERRORS``; an unknown type keeps the HTTP status); a timeout is a 504, a connection failure or a
    response that isn't JSON a 502. An error event in the middle of a stream maps by its type too.
    """

    def __init__(self, client: anthropic.Anthropic | anthropic.AsyncAnthropic,
                 model_map: dict[str, str] | None = None, max_tokens: int | None = None, *,
                 owns_client: bool = False) -> None:
        if isinstance(client, anthropic.AsyncAnthropic):
            self.is_async = True
        elif isinstance(client, anthropic.Anthropic):
            self.is_async = False
        else:
            raise TypeError("anthropic= takes an anthropic.Anthropic or anthropic.AsyncAnthropic, "
                            f"not {type(client).__name__}")
        self.client = client
        self.model_map = dict(model_map or {})
        self.max_tokens = max_tokens
        self._owns_client = owns_client

    def after_fork(self) -> None:
        """In a forked child (called by the App): the SDK client's pooled connections are the parent's."""
        forget_pooled_connections(self.client._client)

    def _body(self, params: dict[str, Any], stream: bool) -> dict[str, Any]:
        return messages_request(params, model=map_model(self.model_map, params["model"]),
                                max_tokens=self.max_tokens, stream=stream)

    # Requests go through the SDK's generic post() with cast_to=object: its auth, retries, SSE decoding
    # and error events, with the provider's JSON as plain dicts (event types the SDK doesn't know yet
    # arrive too, and are skipped by the translator).
    async def chat_completions(self, params: dict[str, Any]) -> dict[str, Any]:
        body = self._body(params, stream=False)
        with _provider_errors():
            if self.is_async:
                message = await self.client.post("/v1/messages", body=body, cast_to=object)
            else:
                message = await call_in_thread(self.client.post, "/v1/messages", body=body, cast_to=object)
        return chat_completion(message)

    async def chat_completions_stream(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        body = self._body(params, stream=True)
        translator = StreamTranslator(include_usage=bool((params.get("stream_options") or {}).get("include_usage")))
        with _provider_errors():
            if self.is_async:
                stream = await self.client.post("/v1/messages", body=body, cast_to=object, stream=True,
                                                stream_cls=anthropic.AsyncStream[object])
                async with stream:  # closing the response on any early exit aborts the provider call
                    async for event in stream:
                        for chunk in translator.chunks(_event(event)):
                            yield chunk
            else:
                events = iterate_in_thread(lambda: self.client.post(
                    "/v1/messages", body=body, cast_to=object, stream=True, stream_cls=anthropic.Stream[object]))
                async with aclosing(events):
                    async for event in events:
                        for chunk in translator.chunks(_event(event)):
                            yield chunk

    async def list_models(self) -> list[dict[str, Any]]:
        """Claude's model list (``model_map`` aliases are not added)."""
        with _provider_errors():
            if self.is_async:
                models = [model async for model in self.client.models.list()]
            else:
                models = await call_in_thread(lambda: list(self.client.models.list()))
        return [{"id": m.id, "object": "model", "created": int(m.created_at.timestamp()), "owned_by": "anthropic"}
                for m in models]

    async def aclose(self) -> None:
        """Close the SDK client if this adapter created it (from configuration); a client passed in
        by the caller stays the caller's to close."""
        if self._owns_client:
            await self.client.close()


def _event(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise BadGateway("The model provider sent a stream event that is not an object.")
    return event


@contextmanager
def _provider_errors() -> Iterator[None]:
    try:
        yield
    except anthropic.APITimeoutError as exc:  # before APIConnectionError, its base class
        raise provider_timeout() from exc
    except anthropic.APIConnectionError as exc:
        raise provider_unreachable(exc) from exc
    except anthropic.APIStatusError as exc:
        raise provider_error(exc.status_code, exc.type, exc.api_message or exc.message) from exc
    except json.JSONDecodeError as exc:
        raise BadGateway(f"The model provider sent a response that is not valid JSON: {exc}") from exc


def provider_error(status: int, error_type: str | None, message: str) -> APIError:
    """The APIError for an Anthropic error. An error event inside a stream arrives with the stream's
    200, so then only its type tells what went wrong (502 when the type is unknown)."""
    if error_type in ERRORS:
        status, openai_type, code = ERRORS[error_type]
    else:
        status = 502 if status < 400 else status
        openai_type, code = ("server_error" if status >= 500 else "invalid_request_error"), None
    return APIError(message, status=status, type=openai_type, code=code)
