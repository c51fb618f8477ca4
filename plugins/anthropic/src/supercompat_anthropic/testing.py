"""A loopback fake of Anthropic's Messages API, byte-compatible with what the anthropic SDK reads.

    with FakeAnthropicProvider() as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="x", max_retries=0)
        fake.script(Text("Hello there"), ToolUse([("get_weather", {"city": "Paris"})]))
        ...
        assert fake.message_requests[0]["system"] == "Be brief."

It validates requests the way the Messages API does where a translation could go wrong (roles that
alternate, each ``tool_use`` answered by a ``tool_result`` in the next turn, ``max_tokens`` present,
known fields only, Claude's value ranges) and answers a bad one with a 400 in Anthropic's error
shape. Streams use Anthropic's SSE format: ``event:`` and ``data:`` lines, ``message_start`` first,
a ``ping``, ``message_stop`` last. Unscripted requests are answered with ``Text(DEFAULT_TEXT)``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from supercompat.testing.loopback import Garbled, Hang, LoopbackHandler, LoopbackProvider, Scripted, Truncated  # noqa: F401 (the shared scenarios, imported from here too)

DEFAULT_TEXT = "Hello from the fake Claude."
MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5")

# The error type Anthropic sends with each status.
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large",
               429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error"}


# -- scripted responses (each is consumed by one messages request) ---------------------------------

@dataclass
class Text:
    """A text answer, streamed a word at a time. ``thinking`` adds a thinking block before it (with
    thinking and signature deltas, which a client must tolerate)."""

    text: str
    stop_reason: str = "end_turn"
    thinking: str | None = None


@dataclass
class ToolUse:
    """Tool calls as ``(name, input)`` pairs, after an optional ``text`` block; ``stop_reason: tool_use``."""

    calls: list[tuple[str, dict[str, Any]]]
    text: str = ""


@dataclass
class Error:
    """An HTTP error in Anthropic's shape; ``type`` defaults to the one Anthropic uses for ``status``."""

    status: int = 500
    message: str = "Internal server error"
    type: str | None = None


@dataclass
class StreamError:
    """A stream that sends ``after`` words, then an ``event: error`` (non-streaming: that HTTP error)."""

    message: str = "Overloaded"
    type: str = "overloaded_error"
    after: int = 1


# -- request validation ---------------------------------------------------------------------------

FIELDS = {"model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature", "top_p",
          "top_k", "tools", "tool_choice", "metadata", "output_config", "thinking", "service_tier",
          "container", "cache_control", "inference_geo", "speed", "diagnostics"}
TOOL_FIELDS = {"name", "description", "input_schema", "type", "strict", "cache_control", "input_examples",
               "defer_loading", "eager_input_streaming", "allowed_callers"}
MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGE_BASE64 = 5 * 1024 * 1024  # an image's base64, at most
MAX_IMAGES = 600  # in one request, on the models with the most
ID = re.compile(r"[a-zA-Z0-9_-]+")
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")


def problem(body: Any) -> str | None:
    """What the Messages API would reject in ``body`` (its message), or None."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object."
    for key in body:
        if key not in FIELDS:
            return f"{key}: Extra inputs are not permitted"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or isinstance(body["max_tokens"], bool):
        return "max_tokens: Field required"
    if body["max_tokens"] < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    for key in ("temperature", "top_p"):
        if key in body and not (isinstance(body[key], (int, float)) and 0 <= body[key] <= 1):
            return f"{key}: Input should be less than or equal to 1"
    if "system" in body and not isinstance(body["system"], (str, list)):
        return "system: Input should be a valid string"
    if "stop_sequences" in body and not all(isinstance(s, str) for s in body["stop_sequences"]):
        return "stop_sequences: Input should be a valid list of strings"
    return _tools_problem(body) or _messages_problem(body.get("messages"))


def _tools_problem(body: dict[str, Any]) -> str | None:
    names = []
    for i, tool in enumerate(body.get("tools") or ()):
        extra = next((k for k in tool if k not in TOOL_FIELDS), None)
        if extra:
            return f"tools.{i}.{extra}: Extra inputs are not permitted"
        if not TOOL_NAME.fullmatch(str(tool.get("name"))):
            return f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
        if not isinstance(tool.get("input_schema"), dict) or tool["input_schema"].get("type") != "object":
            return f"tools.{i}.input_schema.type: Input should be 'object'"
        names.append(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
            return ("tool_choice: Input tag does not match any of the expected tags: "
                    "'auto', 'any', 'tool', 'none'")
        if choice["type"] == "tool" and choice.get("name") not in names:
            return f"tool_choice.name: Tool '{choice.get('name')}' not found in provided tools"
        if not isinstance(choice.get("disable_parallel_tool_use", False), bool):
            return "tool_choice.disable_parallel_tool_use: Input should be a valid boolean"
    fmt = (body.get("output_config") or {}).get("format")
    if fmt is not None and (fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict)):
        return "output_config.format: Input should be a json_schema format with a schema"
    return None


def _messages_problem(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    previous_calls: set[str] = set()
    images = 0
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if i and messages[i - 1].get("role") == role:
            return (f'messages: roles must alternate between "user" and "assistant", but found multiple '
                    f'"{role}" roles in a row')
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            return f"messages.{i}.content: messages must have non-empty content"
        results, calls, leading = [], [], True
        for j, block in enumerate(blocks):
            kind, where = block.get("type"), f"messages.{i}.content.{j}"
            if kind == "text":
                if not isinstance(block.get("text"), str) or not block["text"]:
                    return "messages: text content blocks must be non-empty"
            elif kind == "image":
                source = block.get("source") or {}
                if source.get("type") == "base64" and source.get("media_type") not in MEDIA_TYPES:
                    return (f"{where}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', "
                            "'image/gif' or 'image/webp'")
                if source.get("type") not in ("base64", "url") or not (source.get("data") or source.get("url")):
                    return f"{where}.image.source: Input should be a valid base64 or url source"
                if source["type"] == "base64" and len(source["data"]) > MAX_IMAGE_BASE64:
                    return (f"{where}.image.source.base64: image exceeds 5 MB maximum: {len(source['data'])} "
                            f"bytes > {MAX_IMAGE_BASE64} bytes")
                images += 1
                if images > MAX_IMAGES:
                    return f"{where}: too many images in one request, at most {MAX_IMAGES}"
            elif kind == "tool_use" and role == "assistant":
                if not ID.fullmatch(str(block.get("id"))):
                    return f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
                if not isinstance(block.get("input"), dict):
                    return f"{where}.tool_use.input: Input should be a valid dictionary"
                if block["id"] in calls:
                    return f"messages.{i}: `tool_use` ids must be unique"
                calls.append(block["id"])
            elif kind == "tool_result" and role == "user":
                if not leading:
                    return f"{where}: tool_result blocks must come before any other content in a message"
                results.append(block.get("tool_use_id"))
            else:
                return f"{where}.type: Input tag '{kind}' is not allowed in a {role} message"
            leading = leading and kind == "tool_result"
        unexpected = [r for r in results if r not in previous_calls]
        if unexpected:
            return (f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{', '.join(map(str, unexpected))}. Each `tool_result` block must have a corresponding "
                    "`tool_use` block in the previous message.")
        unanswered = [c for c in previous_calls if c not in results]
        if unanswered:
            return (f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                    f"{', '.join(sorted(unanswered))}. Each `tool_use` block must have a corresponding "
                    "`tool_result` block in the next message.")
        previous_calls = set(calls)
    if previous_calls:
        return (f"messages.{len(messages) - 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(sorted(previous_calls))}.")
    return None


# -- the provider ---------------------------------------------------------------------------------

class _Handler(LoopbackHandler):
    fake: FakeAnthropicProvider

    def response_headers(self) -> dict[str, str]:
        return {"request-id": f"req_{uuid.uuid4().hex[:24]}"}

    def _error(self, status: int, message: str, error_type: str | None = None) -> None:
        error = {"type": error_type or ERROR_TYPES.get(status, "api_error"), "message": message}
        self.send_json(status, {"type": "error", "error": error, "request_id": f"req_{uuid.uuid4().hex[:24]}"})

    def route(self, request: dict[str, Any]) -> None:
        fake = self.fake
        method, path, headers, body = request["method"], request["path"], request["headers"], request["body"]
        bearer = headers.get("authorization", "")
        key = headers.get("x-api-key") or (bearer[len("Bearer "):] if bearer.startswith("Bearer ") else "")
        if not key:
            return self._error(401, "x-api-key header is required")
        if fake.api_key is not None and key != fake.api_key:
            return self._error(401, "invalid x-api-key")
        if not headers.get("anthropic-version"):
            return self._error(400, "anthropic-version: header is required")
        if method == "POST" and path.endswith("/v1/messages"):
            if message := problem(body):
                return self._error(400, message)
            return self._answer(body, fake.settle(fake.next_answer(), body))
        if method == "GET" and path.endswith("/v1/models"):
            data = [{"type": "model", "id": m, "display_name": m, "created_at": "2026-01-01T00:00:00Z",
                     "lifecycle": "active", "max_tokens": 64000} for m in fake.models]
            return self.send_json(200, {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                                        "last_id": data[-1]["id"] if data else None})
        return self._error(404, f"Not found: {method} {path}")

    def _answer(self, body: dict[str, Any], response: Any) -> None:
        fake = self.fake
        if isinstance(response, Error):
            return self._error(response.status, response.message, response.type)
        if not body.get("stream"):
            if isinstance(response, StreamError):
                return self._error(529 if response.type == "overloaded_error" else 500, response.message,
                                   response.type)
            if isinstance(response, Garbled):
                return self.send(200, b'{"id":"msg_garbled","content":[')
            return self.send_json(200, _message(body, response))
        self.start_stream()
        for name, data in _events(body, response):
            if name == "content_block_delta":
                fake.between_pieces()
            data = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))  # str: garbled
            self.send_chunk(f"event: {name}\ndata: {data}\n\n".encode())
        self.end_stream()


class FakeAnthropicProvider(LoopbackProvider):
    """A ``ThreadingHTTPServer`` on 127.0.0.1 speaking Anthropic's Messages API (``/v1/messages``,
    ``/v1/models``). ``api_key``: the only key accepted (default: any); ``word_delay_ms``: a pause before each
    streamed text delta (``stream_delay``, in seconds); ``disconnects`` counts streams
    the client went away from before they ended. ``script()`` queues responses, consumed one per
    messages request in order, then the default answer again; a request the fake rejects as
    malformed consumes nothing."""

    name = "fake-anthropic"
    handler = _Handler

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, models: tuple[str, ...] = MODELS,
                 word_delay_ms: float = 0, api_key: str | None = None) -> None:
        super().__init__(host=host, port=port)
        self.models, self.api_key = models, api_key
        self.stream_delay = word_delay_ms / 1000

    @property
    def base_url(self) -> str:
        """What to pass as the SDK's ``base_url`` (it appends ``/v1/messages`` itself)."""
        return self.url

    @property
    def message_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the Messages API requests, oldest first."""
        return [r["body"] for r in self.requests if r["path"].endswith("/v1/messages")]

    def default_answer(self, body: Any) -> Text:
        return Text(DEFAULT_TEXT)

    def text_answer(self, text: str) -> Text:
        return Text(text)

    def sdk_client(self, asynchronous: bool, **options: Any) -> tuple[Any, list[Any]]:
        """An ``anthropic.Anthropic`` (or ``AsyncAnthropic``) on this fake, without retries."""
        import anthropic

        options = {"base_url": self.base_url, "api_key": "test-key", "max_retries": 0, **options}
        client = anthropic.AsyncAnthropic(**options) if asynchronous else anthropic.Anthropic(**options)
        return client, [client]


# -- answers in Anthropic's shapes ----------------------------------------------------------------

def _words(text: str) -> list[str]:
    return re.findall(r"\s*\S+|\s+$", text)


def _usage(body: dict[str, Any], output_tokens: int) -> dict[str, Any]:
    prompt = len(json.dumps(body.get("messages"))) + len(str(body.get("system") or ""))
    return {"input_tokens": prompt // 4 + 1, "output_tokens": output_tokens, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0}


def _blocks(response: Any) -> list[dict[str, Any]]:
    """The content blocks of a Text or ToolUse answer, as a complete message carries them."""
    blocks: list[dict[str, Any]] = []
    if isinstance(response, Text):
        if response.thinking:
            blocks.append({"type": "thinking", "thinking": response.thinking, "signature": "c2lnbmF0dXJl"})
        blocks.append({"type": "text", "text": response.text})
    else:
        if response.text:
            blocks.append({"type": "text", "text": response.text})
        blocks += [{"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": name, "input": args}
                   for name, args in response.calls]
    return blocks


def _stop_reason(response: Any) -> str:
    return response.stop_reason if isinstance(response, Text) else "tool_use"


def _message(body: dict[str, Any], response: Any) -> dict[str, Any]:
    blocks = _blocks(response)
    spent = sum(len(_words(b.get("text") or "")) + 8 * (b["type"] == "tool_use") for b in blocks)
    return {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant", "model": body["model"],
            "content": blocks, "stop_reason": _stop_reason(response), "stop_sequence": None,
            "usage": _usage(body, spent)}


def _events(body: dict[str, Any], response: Any) -> Any:
    """``(event name, data)`` pairs of one streamed answer."""
    start = {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant", "model": body["model"],
             "content": [], "stop_reason": None, "stop_sequence": None, "usage": _usage(body, 1)}
    yield "message_start", {"type": "message_start", "message": start}
    if isinstance(response, Garbled):
        yield "content_block_delta", '{"type":"content_block_delta","index":0,"delta":{'
        return
    if isinstance(response, (StreamError, Truncated)):
        blocks = [{"type": "text", "text": "".join(_words(" ".join(["word"] * response.after)))}]
    else:
        blocks = _blocks(response)
    spent = 0
    for index, block in enumerate(blocks):
        kind = block["type"]
        # A block starts empty and its content follows in deltas.
        empty = {**block, "input": {}} if kind == "tool_use" else {**block, kind: ""}
        if kind == "thinking":
            empty["signature"] = ""
        yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": empty}
        if index == 0:
            yield "ping", {"type": "ping"}
        if kind == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": block["thinking"]},
                      {"type": "signature_delta", "signature": block["signature"]}]
        elif kind == "text":
            deltas = [{"type": "text_delta", "text": word} for word in _words(block["text"])]
        else:  # arguments in two fragments after an empty one, as Claude streams them
            arguments = json.dumps(block["input"]) if block["input"] else ""
            half = len(arguments) // 2
            deltas = [{"type": "input_json_delta", "partial_json": part}
                      for part in ("", arguments[:half], arguments[half:]) if part or not arguments]
        for delta in deltas:
            spent += 1
            yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        if isinstance(response, StreamError):
            yield "error", {"type": "error", "error": {"type": response.type, "message": response.message}}
            return
        if isinstance(response, Truncated):
            return
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield "message_delta", {"type": "message_delta", "delta": {"stop_reason": _stop_reason(response),
                                                                "stop_sequence": None},
                            "usage": {"output_tokens": spent}}
    yield "message_stop", {"type": "message_stop"}


class ScriptedFakeAnthropic(Scripted):
    """The conformance kits' ``scripted_provider`` (``.adapter``, ``.script(*Reply)``, ``.fail``):
    supercompat Replies played by a FakeAnthropicProvider in Anthropic's wire format."""

    failure = Error

    def answer(self, reply: Any) -> Text | ToolUse:
        if reply.tool_calls:
            return ToolUse(self.object_calls(reply), text=reply.text)
        return Text(reply.text, stop_reason="max_tokens" if reply.finish_reason == "length" else "end_turn")
