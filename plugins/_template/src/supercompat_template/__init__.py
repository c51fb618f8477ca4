"""A copy-me client adapter plugin: registration, options, and the adapter itself."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from supercompat import hookimpl
from supercompat.clients import ClientOptions


class TemplateOptions(ClientOptions):
    """The ``[client]`` section of supercompat.toml; api_key, base_url and model_map come built in."""

    prefix: str = ""


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "".join(p.get("text", "") for p in content or [] if p.get("type") == "text")
    return ""


class EchoClientAdapter:
    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def _reply(self, params: dict[str, Any]) -> str:
        return self.prefix + _last_user_text(params.get("messages", []))

    async def chat_completions(self, params: dict[str, Any]) -> dict[str, Any]:
        text = self._reply(params)
        return {"id": "chatcmpl-echo", "object": "chat.completion", "created": int(time.time()),
                "model": params["model"], "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                "message": {"role": "assistant", "content": text, "refusal": None}}],
                "usage": {"prompt_tokens": 0, "completion_tokens": len(text.split()),
                          "total_tokens": len(text.split())}}

    async def chat_completions_stream(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        base = {"id": "chatcmpl-echo", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": params["model"]}
        yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                    "logprobs": None, "finish_reason": None}]}
        for word in self._reply(params).split(" "):
            yield {**base, "choices": [{"index": 0, "delta": {"content": word + " "}, "logprobs": None,
                                        "finish_reason": None}]}
        yield {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]}

    async def list_models(self) -> list[dict[str, Any]]:
        return [{"id": "echo", "object": "model", "created": 0, "owned_by": "template"}]


def template_client_adapter(prefix: str = "") -> EchoClientAdapter:
    """The programmatic entry point, named like the first-party ``<name>_client_adapter``."""
    return EchoClientAdapter(prefix)


@hookimpl
def register_client_adapters(register):
    register("template", lambda options: template_client_adapter(options.prefix), TemplateOptions)
