"""A loopback fake of the template's provider, for its tests (and yours: copy and adapt it).

    with FakeTemplateProvider() as fake:
        adapter = template_client_adapter(template=httpx2.Client(base_url=fake.url))
        fake.script(Reply(text="Hello"), Reply(tool_calls=[("get_weather", {"city": "Paris"})]))

It answers scripted :class:`~supercompat.testing.Reply` values and :class:`Error`, and plays the
scenarios every fake shares (:mod:`supercompat.testing.loopback`): ``Hang``, ``Garbled`` and
``Truncated``; unscripted requests get an echo of the last user message. It rejects, as a 400,
what the provider would: a tool result that answers no call of the message before it. The loopback
plumbing is in :mod:`supercompat.testing.loopback` (docs/testing.md).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from supercompat.testing import Reply
from supercompat.testing.loopback import (  # noqa: F401 (the shared scenarios, imported from here too)
    Garbled,
    Hang,
    LoopbackHandler,
    LoopbackProvider,
    Scripted,
    Truncated,
)

MODELS = ("template-large", "test-model")


@dataclass
class Error:
    """An HTTP error in the provider's shape."""

    status: int = 500
    message: str = "Internal error"


def problem(body: Any) -> str | None:
    """What the provider rejects in a request body (its message), or None."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return "model is required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    calls: set[str] = set()
    for i, message in enumerate(messages):
        if message.get("role") == "tool" and message.get("call_id") not in calls:
            return f"messages.{i}: call_id {message.get('call_id')!r} answers no call"
        if message.get("role") != "tool":
            calls = {c["id"] for c in message.get("calls") or ()}
    return None


def _words(text: str) -> list[str]:
    return re.findall(r"\s*\S+", text)


class _Handler(LoopbackHandler):
    fake: FakeTemplateProvider

    def _error(self, status: int, message: str, code: str | None = None) -> None:
        self.send_json(status, {"error": {"message": message, "code": code}})

    def route(self, request: dict[str, Any]) -> None:
        fake, method, path, body = self.fake, request["method"], request["path"], request["body"]
        key = request["headers"].get("authorization", "").removeprefix("Bearer ")
        if fake.api_key is not None and key != fake.api_key:
            return self._error(401, "Invalid API key.", "invalid_api_key")
        if method == "GET" and path == "/v1/models":
            return self.send_json(200, {"models": [{"name": m} for m in fake.models]})
        if method == "POST" and path == "/v1/generate":
            if message := problem(body):
                return self._error(400, message)
            return self._answer(body, fake.settle(fake.next_answer(), body))
        return self._error(404, f"Not found: {method} {path}")

    def _answer(self, body: dict[str, Any], answer: Any) -> None:
        if isinstance(answer, Error):
            return self._error(answer.status, answer.message)
        if isinstance(answer, (Garbled, Truncated)):
            return self._broken(body, answer)
        calls = [{"id": f"call_{uuid.uuid4().hex[:12]}", "name": name,
                  "args": json.loads(args) if isinstance(args, str) else args} for name, args in answer.tool_calls]
        stop = "calls" if calls else "limit" if answer.finish_reason == "length" else "done"
        usage = {"input": len(json.dumps(body["messages"])) // 4 + 1,
                 "output": len(_words(answer.text)) + 8 * len(calls)}
        if not body.get("stream"):
            return self.send_json(200, {"id": f"gen_{uuid.uuid4().hex[:12]}", "model": body["model"],
                                        "text": answer.text, "calls": calls, "stop": stop, "usage": usage})
        events = [*({"type": "text", "text": w} for w in _words(answer.text)),
                  *({"type": "call", **call} for call in calls), {"type": "done", "stop": stop, "usage": usage}]
        self._stream(json.dumps(event) for event in events)
        self.end_stream()

    def _stream(self, frames: Any) -> None:
        self.start_stream()
        for frame in frames:
            self.fake.between_pieces()
            self.send_chunk(f"data: {frame}\n\n".encode())

    def _broken(self, body: dict[str, Any], answer: Garbled | Truncated) -> None:
        """A stream of ``after`` words, then what goes wrong: a frame that isn't JSON, the end before
        the finish, or (``clean=False``) the connection dropped. Not streaming: a body that isn't JSON,
        or half a body and the connection dropped."""
        if not body.get("stream"):
            if isinstance(answer, Garbled):
                return self.send(200, b'{"text": "alpha')
            data = json.dumps({"text": "alpha bravo", "calls": [], "stop": "done"}).encode()
            self.wfile.write(self.head(200, {"Content-Type": "application/json", "Content-Length": str(len(data))})
                             + data[: len(data) // 2])
            return self.drop()
        frames = [json.dumps({"type": "text", "text": w}) for w in _words("alpha bravo charlie delta")]
        self._stream([*frames[:answer.after], *(['{"type": "te'] if isinstance(answer, Garbled) else [])])
        if isinstance(answer, Truncated) and not answer.clean:
            return self.drop()
        self.end_stream()


class FakeTemplateProvider(LoopbackProvider):
    """The template's provider on 127.0.0.1: ``POST /v1/generate``, ``GET /v1/models``.
    ``api_key``: the only key accepted (default: any); ``word_delay_ms``: a pause before each
    streamed event (``stream_delay``, in seconds)."""

    name = "fake-template"
    handler = _Handler

    def __init__(self, *, models: tuple[str, ...] = MODELS, api_key: str | None = None,
                 word_delay_ms: float = 0) -> None:
        super().__init__()
        self.models, self.api_key, self.stream_delay = models, api_key, word_delay_ms / 1000

    def default_answer(self, body: Any) -> Reply:
        last = next((m.get("text") or "" for m in reversed(body["messages"]) if m.get("role") == "user"), "")
        return Reply(text=f"You said: {last}")

    def text_answer(self, text: str) -> Reply:
        return Reply(text=text)

    def sdk_client(self, asynchronous: bool, **options: Any) -> tuple[Any, list[Any]]:
        """An ``httpx2.Client`` (or ``AsyncClient``) on this fake: the template's stand-in for an SDK."""
        import httpx2

        options = {"base_url": self.url, "headers": {"authorization": "Bearer test-key"}, **options}
        client = httpx2.AsyncClient(**options) if asynchronous else httpx2.Client(**options)
        return client, [client]


class ScriptedFakeTemplate(Scripted):
    """The client kit's ``scripted_provider``: the fake reads Replies as they are."""

    failure = Error
