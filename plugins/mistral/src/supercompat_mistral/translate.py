"""OpenAI chat-completions shapes to Mistral's and back, as plain dicts (no SDK import here).

Mistral's rules that OpenAI doesn't have (checked by Mistral's request validator):

- tool-call ids are 9 characters ``[a-zA-Z0-9]``. We show users ``call_<mistral id>`` and send
  ``<mistral id>`` back; ids from elsewhere (another provider, an older thread) get a stable
  9-character digest, the same in the assistant message and in its tool results;
- after a tool result only another tool result or an assistant message may come;
- the last message is a user or tool message, or an assistant message marked ``prefix`` (which the
  model then continues, repeating the prefix at the start of its answer);
- an assistant message has content or tool calls.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
import time
from typing import Any

from supercompat.errors import BadGateway, InvalidRequest

ID_ALPHABET = string.ascii_letters + string.digits
_MISTRAL_ID = re.compile(r"[a-zA-Z0-9]{9}")
# What goes between a tool result and a later user or system message, where Mistral wants an
# assistant turn and the thread has none (the model's answer to the tool results failed).
BRIDGE = "(no reply)"
FINISH_REASONS = {"stop": "stop", "length": "length", "model_length": "length", "tool_calls": "tool_calls"}
_SAME_NAME = ("temperature", "top_p", "stop", "presence_penalty", "frequency_penalty", "n",
              "parallel_tool_calls", "reasoning_effort")


# -- tool-call ids --------------------------------------------------------------------------------

def new_mistral_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(9))


def to_openai_id(mistral_id: str | None) -> str:
    if not mistral_id or mistral_id == "null":  # the SDK's default when Mistral sends none
        mistral_id = new_mistral_id()
    return "call_" + mistral_id


def to_mistral_id(openai_id: str) -> str:
    bare = openai_id.removeprefix("call_")
    if _MISTRAL_ID.fullmatch(bare):
        return bare
    number = int.from_bytes(hashlib.sha256(openai_id.encode()).digest()[:8], "big")
    digits = []
    for _ in range(9):
        number, digit = divmod(number, len(ID_ALPHABET))
        digits.append(ID_ALPHABET[digit])
    return "".join(digits)


# -- requests -------------------------------------------------------------------------------------

def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text") or "" for p in content or () if isinstance(p, dict) and p.get("type") == "text")


def _user_content(content: Any) -> str | list[dict[str, Any]]:
    if isinstance(content, str) or content is None:
        return content or ""
    parts = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "image_url":
            image = part["image_url"]
            url, detail = (image, None) if isinstance(image, str) else (image["url"], image.get("detail"))
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": detail} if detail else url})
        else:
            raise InvalidRequest(f"Mistral does not take '{kind}' content parts.", param="messages")
    return parts


def _messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """Mistral's messages, and the prefix its answer will repeat (when the last one is an
    assistant message, sent as ``prefix``)."""
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # mistral tool-call id -> function name, for the tool messages
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            converted: dict[str, Any] = {"role": "system", "content": _text(message.get("content"))}
        elif role == "user":
            converted = {"role": "user", "content": _user_content(message.get("content"))}
        elif role == "assistant":
            calls = []
            for call in message.get("tool_calls") or ():
                fn, call_id = call["function"], to_mistral_id(call["id"])
                names[call_id] = fn["name"]
                calls.append({"id": call_id, "type": "function",
                              "function": {"name": fn["name"], "arguments": fn.get("arguments") or "{}"}})
            text = _text(message.get("content"))
            if not text and not calls:
                continue  # Mistral rejects an assistant message with neither
            converted = {"role": "assistant", "content": text}
            if calls:
                converted["tool_calls"] = calls
        elif role == "tool":
            call_id = to_mistral_id(message["tool_call_id"])
            converted = {"role": "tool", "tool_call_id": call_id, "content": _text(message.get("content"))}
            if call_id in names:
                converted["name"] = names[call_id]
        else:
            raise InvalidRequest(f"Mistral does not take '{role}' messages.", param="messages")
        if out and out[-1]["role"] == "tool" and converted["role"] not in ("tool", "assistant"):
            out.append({"role": "assistant", "content": BRIDGE})
        out.append(converted)
    prefix = None
    if out and out[-1]["role"] == "assistant" and "tool_calls" not in out[-1]:
        out[-1]["prefix"] = True
        prefix = out[-1]["content"]
    return out, prefix


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise InvalidRequest(f"Mistral does not take '{tool.get('type')}' tools.", param="tools")
    fn = tool["function"]
    function = {"name": fn["name"], "parameters": fn.get("parameters") or {"type": "object", "properties": {}}}
    for key in ("description", "strict"):
        if fn.get(key) is not None:
            function[key] = fn[key]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if choice == "required":
        return "any"
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["function"]["name"]}}
    return choice  # "auto", "none"


def _response_format(fmt: dict[str, Any]) -> dict[str, Any]:
    if fmt.get("type") != "json_schema":
        return {"type": fmt.get("type", "text")}
    schema = fmt["json_schema"]
    converted = {"name": schema["name"], "schema": schema.get("schema") or {}}
    for key in ("description", "strict"):
        if schema.get(key) is not None:
            converted[key] = schema[key]
    return {"type": "json_schema", "json_schema": converted}


def to_mistral(params: dict[str, Any], model: str) -> tuple[dict[str, Any], str | None]:
    """The keyword arguments of ``chat.complete`` / ``chat.stream`` for a chat-completions body,
    and the prefix Mistral's answer will start with (see :class:`EchoFilter`)."""
    messages, prefix = _messages(params.get("messages") or [])
    request: dict[str, Any] = {"model": model, "messages": messages}
    for key in _SAME_NAME:
        if params.get(key) is not None:
            request[key] = params[key]
    if params.get("seed") is not None:
        request["random_seed"] = params["seed"]
    max_tokens = params.get("max_completion_tokens") or params.get("max_tokens")
    if max_tokens:
        request["max_tokens"] = max_tokens
    if params.get("tools"):
        request["tools"] = [_tool(t) for t in params["tools"]]
        if params.get("tool_choice") is not None:
            request["tool_choice"] = _tool_choice(params["tool_choice"])
    else:
        request.pop("parallel_tool_calls", None)
    if params.get("response_format"):
        request["response_format"] = _response_format(params["response_format"])
    return request, prefix


# -- responses ------------------------------------------------------------------------------------

class EchoFilter:
    """Drops the prefix that Mistral repeats at the start of an answer to a ``prefix`` request,
    holding back text only while it could still be that echo."""

    def __init__(self, prefix: str | None) -> None:
        self.prefix, self.seen = prefix, ""

    def __call__(self, text: str) -> str:
        if not self.prefix:
            return text
        self.seen += text
        if self.prefix.startswith(self.seen):
            if len(self.seen) == len(self.prefix):
                self.prefix = None
            return ""
        seen, prefix, self.prefix = self.seen, self.prefix, None
        return seen.removeprefix(prefix)


def _usage(usage: dict[str, Any] | None) -> dict[str, int] | None:
    if not usage:
        return None
    prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": usage.get("total_tokens") or prompt + completion}


def _finish(reason: str | None) -> str | None:
    if reason is None:
        return None
    if reason == "error":
        raise BadGateway("The model provider stopped with an error.")
    return FINISH_REASONS.get(reason, "stop")


def _arguments(arguments: Any) -> str:
    if arguments is None:  # a later fragment that adds nothing
        return ""
    return arguments if isinstance(arguments, str) else json.dumps(arguments)  # Mistral may send an object


def completion(response: dict[str, Any], prefix: str | None) -> dict[str, Any]:
    """A ``ChatCompletion`` dict from Mistral's chat completion response."""
    choices = []
    for choice in response.get("choices") or ():
        message = choice.get("message") or {}
        calls = [{"id": to_openai_id(c.get("id")), "type": "function",
                  "function": {"name": c["function"]["name"], "arguments": _arguments(c["function"]["arguments"])}}
                 for c in message.get("tool_calls") or ()]
        text = EchoFilter(prefix)(_text(message.get("content")))
        out: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
        if calls:
            out["tool_calls"] = calls
        choices.append({"index": choice.get("index", 0), "message": out, "logprobs": None,
                        "finish_reason": _finish(choice.get("finish_reason")) or "stop"})
    return {"id": response["id"], "object": "chat.completion", "created": response.get("created") or int(time.time()),
            "model": response["model"], "choices": choices, "usage": _usage(response.get("usage"))}


class StreamTranslator:
    """Turns Mistral's stream chunks into ``ChatCompletionChunk`` dicts, one chunk each.

    Mistral sends each tool call whole; they get consecutive OpenAI indexes here (Mistral's own
    ``index`` is not reliable across calls). Usage, which Mistral puts on its last chunk, comes at the
    end in a chunk of its own with empty ``choices``, as OpenAI does when ``include_usage`` is set."""

    def __init__(self, prefix: str | None, include_usage: bool) -> None:
        self.echo = EchoFilter(prefix)
        self.include_usage = include_usage
        self.calls: dict[int, int] = {}  # Mistral's index of the latest call -> our index
        self.count = 0
        self.usage: dict[str, int] | None = None
        self.base: dict[str, Any] = {}

    def chunk(self, data: dict[str, Any]) -> dict[str, Any]:
        if not self.base:  # one id, time and model for the whole stream, as OpenAI's chunks have
            self.base = {"id": data["id"], "object": "chat.completion.chunk",
                         "created": data.get("created") or int(time.time()), "model": data["model"]}
        self.usage = _usage(data.get("usage")) or self.usage
        choices = []
        for choice in data.get("choices") or ():
            delta = choice.get("delta") or {}
            out: dict[str, Any] = {}
            if delta.get("role"):
                out["role"] = "assistant"
            if delta.get("content") is not None:
                out["content"] = self.echo(_text(delta["content"]))
            calls = [self._call(c) for c in delta.get("tool_calls") or ()]
            if calls:
                out["tool_calls"] = calls
            choices.append({"index": choice.get("index", 0), "delta": out, "logprobs": None,
                            "finish_reason": _finish(choice.get("finish_reason"))})
        return {**self.base, "choices": choices}

    def _call(self, call: dict[str, Any]) -> dict[str, Any]:
        fn = call.get("function") or {}
        mistral_index = call.get("index") or 0
        if call.get("id") in (None, "null") and mistral_index in self.calls:  # more arguments for a call
            return {"index": self.calls[mistral_index], "function": {"arguments": _arguments(fn.get("arguments"))}}
        index = self.calls[mistral_index] = self.count
        self.count += 1
        return {"index": index, "id": to_openai_id(call.get("id")), "type": "function",
                "function": {"name": fn.get("name"), "arguments": _arguments(fn.get("arguments"))}}

    def chunks(self, event: Any) -> tuple[dict[str, Any]]:
        """The chunk of one event of the SDK's stream."""
        return (self.chunk(dump(event.data)),)

    def end(self) -> list[dict[str, Any]]:
        """What follows the last chunk: the usage chunk, when asked for and known."""
        if self.include_usage and self.usage and self.base:
            return [{**self.base, "choices": [], "usage": self.usage}]
        return []


def dump(model: Any) -> dict[str, Any]:
    """An SDK model as the provider's JSON. warnings=False: values Mistral sends beyond the SDK's enums
    (finish_reason "model_length" on a stream chunk) are kept as they are, without a serializer
    warning each time."""
    return model.model_dump(by_alias=True, warnings=False)
