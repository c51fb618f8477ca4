"""The OpenAI ClientAdapter: chat-completions bodies passed through the openai SDK, errors kept as
OpenAI sent them."""

from __future__ import annotations

from typing import Any

import openai

from supercompat.errors import APIError, BadGateway, provider_error_type
from supercompat.providers import ErrorTable, GenericPostAdapter, timed_out, unreachable

from .twin import AsyncTwin


def _status_error(exc: openai.APIStatusError) -> APIError:
    body = exc.body if isinstance(exc.body, dict) else {}
    message = body.get("message") if isinstance(body.get("message"), str) else exc.message
    return APIError(message, status=exc.status_code, type=exc.type or provider_error_type(exc.status_code),
                    code=exc.code, param=exc.param)


def _error_frame(exc: openai.APIError) -> APIError:
    """An error frame mid-stream: the HTTP status was already 200."""
    return APIError(exc.message, status=502, type=exc.type or "server_error", code=exc.code, param=exc.param)


def _normalised(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):  # a str if the body wasn't JSON: the SDK hands back its text
        raise BadGateway("The model provider sent something other than a chat completion.")
    # Some compatible endpoints leave out keys that the chat-completions shapes always carry.
    for choice in data.setdefault("choices", []):
        choice.setdefault("finish_reason", None)
        choice.setdefault("logprobs", None)
    return data


class _Passthrough:
    """Chunks are chat-completion chunks already."""

    @staticmethod
    def chunks(event: Any) -> tuple[dict[str, Any]]:
        return (_normalised(event),)


class OpenAIClientAdapter(GenericPostAdapter):
    """A ClientAdapter over an ``openai.OpenAI`` or ``openai.AsyncOpenAI``. A plain sync client is
    called through an async twin (see :mod:`.twin`); any other runs in worker threads.

    Errors become :class:`supercompat.errors.APIError`: an HTTP error keeps the provider's status,
    message, type, code and param; a timeout is a 504 (we are a gateway whose upstream did not
    answer in time; code ``"timeout"``); a connection failure, an error frame in the middle of a
    stream, or a response that isn't valid JSON is a 502 (type ``"server_error"``). A stream that
    simply stops early ends without a ``finish_reason``; deciding what that means is the caller's.
    """

    plugin = "openai"
    client_types = (openai.OpenAI, openai.AsyncOpenAI)
    # Through the SDK's generic post(): fields it doesn't know (vLLM's top_k, ...) pass through.
    path, stream_types = "/chat/completions", (openai.Stream, openai.AsyncStream)
    accepts = "an openai.OpenAI or openai.AsyncOpenAI"
    config_errors = (openai.OpenAIError,)
    errors = ErrorTable(
        (openai.APITimeoutError, timed_out),  # before APIConnectionError, its base class
        (openai.APIConnectionError, unreachable),
        (openai.APIStatusError, _status_error),
        (openai.APIError, _error_frame),
    )

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI, model_map: dict[str, str] | None = None,
                 *, owns_client: bool = False) -> None:
        super().__init__(client, model_map, owns_client=owns_client)
        self._twin = None if self.is_async else AsyncTwin(self, client)

    @classmethod
    def open_client(cls, options: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(**cls.given(options, "api_key", "base_url", "organization", "project", "timeout",
                                              "max_retries"))

    def async_client(self) -> openai.AsyncOpenAI | None:
        """An async client, or the async twin of a plain sync one on supercompat's loop."""
        return self.client if self._twin is None else self._twin.get()

    def request(self, params: dict[str, Any], stream: bool) -> dict[str, Any]:
        body = {**params, "model": self.model(params), "stream": stream}
        if not stream:
            body.pop("stream_options", None)  # OpenAI rejects it on a non-streaming request
        return body

    def completion(self, completion: Any, params: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return _normalised(completion)

    def stream_translator(self, params: dict[str, Any], body: dict[str, Any]) -> _Passthrough:
        return _Passthrough()

    def fetch_models(self, client: Any) -> Any:
        return client.get("/models", cast_to=object)

    def models(self, page: Any) -> list[dict[str, Any]]:
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise BadGateway("The model provider did not answer with a model list.")
        return page["data"]

    def after_fork(self) -> None:
        """In a forked child (called by the App): the async twin belongs to the parent's loop, and the
        SDK client's pooled connections are the parent's sockets; the child makes its own."""
        if self._twin is not None:
            self._twin.forget()
        super().after_fork()

    async def aclose(self) -> None:
        """Close the SDK client if this adapter created it (from configuration); a client passed in
        by the caller stays the caller's to close. The async twin is ours."""
        if self._twin is not None:
            await self._twin.aclose()
        await super().aclose()
