"""Translation between the chat-completions shapes and the provider's own (here: a tiny JSON API).

Replace this module's contents with your provider's: what a request becomes, and how its answers
and stream events come back as ``ChatCompletion`` / ``ChatCompletionChunk`` dicts.

The template's provider takes ``POST /v1/generate`` with ``{"model", "messages": [{"role", "text",
"calls", "call_id"}], "tools": [{"name", "description", "schema"}], "max_tokens", "stream"}`` and
answers ``{"id", "model", "text", "calls": [{"id", "name", "args"}], "stop", "usage": {"input",
"output"}}``, or, streaming, server-sent events ``{"type": "text" | "call" | "done", ...}``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from supercompat.errors import BadGateway, InvalidRequest

FINISH_REASONS = {"done": "stop", "limit": "length", "calls": "tool_calls"}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or () if p.get("type") == "text")


def _message(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    if role in ("system", "developer"):
        return {"role": "system", "text": _text(message.get("content"))}
    if role == "tool":
        return {"role": "tool", "call_id": message.get("tool_call_id"), "text": _text(message.get("content"))}
    out = {"role": role, "text": _text(message.get("content"))}
    if role == "assistant" and message.get("tool_calls"):
        out["calls"] = [{"id": c["id"], "name": c["function"]["name"], "args": _arguments(c["function"]["arguments"])}
                        for c in message["tool_calls"]]
    return out


def _arguments(arguments: str) -> Any:
    try:
        return json.loads(arguments or "{}")
    except ValueError as exc:
        raise InvalidRequest(f"Tool call arguments are not valid JSON: {exc}", param="messages") from exc


def to_provider(params: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    """The provider's request for a chat-completions body."""
    body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in params.get("messages") or ()],
                            "stream": stream}
    tools = [t["function"] for t in params.get("tools") or () if t.get("type") == "function"]
    if tools:
        body["tools"] = [{"name": f["name"], "description": f.get("description", ""),
                          "schema": f.get("parameters") or {}} for f in tools]
    max_tokens = params.get("max_completion_tokens") or params.get("max_tokens")
    if max_tokens:
        body["max_tokens"] = max_tokens
    return body


def _usage(usage: dict[str, Any]) -> dict[str, int]:
    prompt, completion_tokens = usage.get("input", 0), usage.get("output", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens}


def _call(call: dict[str, Any]) -> dict[str, Any]:
    return {"id": call["id"], "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call.get("args") or {})}}


def completion(answer: Any) -> dict[str, Any]:
    """The provider's whole answer as a ``ChatCompletion`` dict."""
    if not isinstance(answer, dict) or "stop" not in answer:
        raise BadGateway("The model provider sent something other than an answer.")
    message: dict[str, Any] = {"role": "assistant", "content": answer.get("text") or None, "refusal": None}
    if answer.get("calls"):
        message["tool_calls"] = [_call(c) for c in answer["calls"]]
    return {"id": answer.get("id") or "chatcmpl-template", "object": "chat.completion", "created": int(time.time()),
            "model": answer.get("model") or "", "choices": [{"index": 0, "message": message, "logprobs": None,
            "finish_reason": FINISH_REASONS.get(answer["stop"], "stop")}], "usage": _usage(answer.get("usage") or {})}


class StreamTranslator:
    """The provider's stream events as ``ChatCompletionChunk`` dicts: a role chunk first, each tool
    call whole in one fragment (id and name with it), the finish, then usage if asked for. A stream
    cut short ends without a ``finish_reason``."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.base = {"id": f"chatcmpl-{time.time_ns()}", "object": "chat.completion.chunk",
                     "created": int(time.time()), "model": model}
        self.include_usage = include_usage
        self.started = False
        self.calls = 0

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**self.base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def chunks(self, event: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if not self.started:
            self.started = True
            yield self._chunk({"role": "assistant", "content": ""})
        kind = event.get("type")
        if kind == "text":
            yield self._chunk({"content": event["text"]})
        elif kind == "call":
            yield self._chunk({"tool_calls": [{"index": self.calls, **_call(event)}]})
            self.calls += 1
        elif kind == "done":
            yield self._chunk({}, FINISH_REASONS.get(event.get("stop"), "stop"))
            if self.include_usage:
                yield {**self.base, "choices": [], "usage": _usage(event.get("usage") or {})}


def model_list(listed: Any) -> list[dict[str, Any]]:
    if not isinstance(listed, dict) or not isinstance(listed.get("models"), list):
        raise BadGateway("The model provider did not answer with a model list.")
    return [{"id": m["name"], "object": "model", "created": 0, "owned_by": "template"} for m in listed["models"]]
