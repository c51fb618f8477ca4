"""The ``scripted`` client adapter: deterministic answers without a network, for offline tests of
assistants apps and for ``supercompat demo`` when no provider key is set (``plugin = "scripted"``
in configuration). Production code, so it lives here; ``supercompat.testing`` re-exports it."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from .clients import ClientOptions
from .errors import APIError
from .ids import new_id


@dataclass(frozen=True)
class Reply:
    """One model turn: ``text``, and/or ``tool_calls`` as ``(name, arguments)`` pairs."""

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    finish_reason: str | None = None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content or [] if p.get("type") == "text")


def default_reply(params: dict[str, Any]) -> Reply:
    """Without a script: summarise tool results after a tool round, else echo the last user message."""
    messages = params.get("messages") or []
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.append(_text_of(message.get("content")))
    if results:
        return Reply(text="The tools answered: " + "; ".join(reversed(results)))
    last_user = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    return Reply(text=f"You said: {last_user}")


class ScriptedClientAdapter:
    """Answers with ``replies`` in order, then with :func:`default_reply`. ``requests`` records every
    chat-completions body it was given."""

    def __init__(self, replies: Sequence[Reply | str] | None = None) -> None:
        self._replies = [Reply(text=r) if isinstance(r, str) else r for r in replies or []]
        self.requests: list[dict[str, Any]] = []

    @property
    def adapter(self) -> ScriptedClientAdapter:
        """It is its own fake provider: the kits' ``scripted_provider`` fixture can return it as is."""
        return self

    def script(self, *replies: Reply | str) -> None:
        self._replies.extend(Reply(text=r) if isinstance(r, str) else r for r in replies)

    def fail(self, status: int, message: str) -> None:
        """Make the next request fail as a provider error with this HTTP status."""
        self._replies.append(APIError(message, status=status))  # type: ignore[arg-type]

    def _next(self, params: dict[str, Any]) -> Reply:
        self.requests.append(params)
        reply = self._replies.pop(0) if self._replies else default_reply(params)
        if isinstance(reply, APIError):
            raise reply
        return reply

    def _calls(self, reply: Reply) -> list[dict[str, Any]]:
        return [{"id": new_id("call"), "type": "function",
                 "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
                for name, args in reply.tool_calls]

    @staticmethod
    def _usage(params: dict[str, Any], reply: Reply) -> dict[str, int]:
        prompt = sum(len(_text_of(m.get("content"))) for m in params.get("messages") or []) // 4 + 1
        completion = len(reply.text.split()) + len(reply.tool_calls) * 8
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    async def chat_completions(self, params: dict[str, Any]) -> dict[str, Any]:
        reply = self._next(params)
        calls = self._calls(reply)
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        return {"id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()),
                "model": params["model"], "choices": [{"index": 0, "message": message, "logprobs": None,
                "finish_reason": reply.finish_reason or ("tool_calls" if calls else "stop")}],
                "usage": self._usage(params, reply)}

    async def chat_completions_stream(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        reply = self._next(params)
        base = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": params["model"]}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        yield chunk({"role": "assistant", "content": ""})
        words = reply.text.split(" ") if reply.text else []
        for i, word in enumerate(words):
            yield chunk({"content": word if i == 0 else " " + word})
        calls = self._calls(reply)
        for i, call in enumerate(calls):
            yield chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                         "function": {"name": call["function"]["name"], "arguments": ""}}]})
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": call["function"]["arguments"]}}]})
        yield chunk({}, reply.finish_reason or ("tool_calls" if calls else "stop"))
        if (params.get("stream_options") or {}).get("include_usage"):
            yield {**base, "choices": [], "usage": self._usage(params, reply)}

    async def list_models(self) -> list[dict[str, Any]]:
        return [{"id": "scripted", "object": "model", "created": 0, "owned_by": "supercompat"}]


def scripted_client_adapter(replies: Sequence[Reply | str] | None = None) -> ScriptedClientAdapter:
    """A :class:`ScriptedClientAdapter` answering with ``replies`` (a str is a text reply)."""
    return ScriptedClientAdapter(replies)


class ScriptedCall(BaseModel):
    """A tool call in a configured reply: ``{ name = "get_weather", arguments = { city = "Paris" } }``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    arguments: dict[str, Any] | str = {}


class ScriptedReply(BaseModel):
    """A configured reply with tool calls: ``{ text = "...", tool_calls = [...] }``."""

    model_config = ConfigDict(extra="forbid")

    text: str = ""
    tool_calls: list[ScriptedCall] = []

    def reply(self) -> Reply:
        return Reply(text=self.text, tool_calls=[(call.name, call.arguments) for call in self.tool_calls])


class ScriptedOptions(ClientOptions):
    """The ``[client]`` section of ``plugin = "scripted"``: ``replies``, what it answers with in order
    (a text, or a table with ``text`` and ``tool_calls``), then the default."""

    # A string is a text; anything else is read as a table (so its mistakes are named as the table's).
    replies: list[Annotated[Annotated[str, Tag("text")] | Annotated[ScriptedReply, Tag("table")],
                            Discriminator(lambda value: "text" if isinstance(value, str) else "table")]] = []

    def script(self) -> list[Reply | str]:
        return [r.reply() if isinstance(r, ScriptedReply) else r for r in self.replies]


__all__ = ["Reply", "ScriptedCall", "ScriptedClientAdapter", "ScriptedOptions", "ScriptedReply", "default_reply",
           "scripted_client_adapter"]
