"""Chat-completions shapes to Anthropic's Messages API and back: requests, completions, stream events.

Pure functions over dicts; the adapter module owns the SDK calls and errors.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

from supercompat.errors import BadGateway, InvalidRequest
from supercompat.images import ImageCheck, ImageLimits, split_data_url
from supercompat.providers import call_arguments

# Output limits of older models, whose ceiling is below the default; newer models allow more.
_MAX_TOKENS_BY_PREFIX = (("claude-3-5", 8192), ("claude-3-7", 8192), ("claude-3-", 4096), ("claude-2", 4096))
DEFAULT_MAX_TOKENS = 16384

FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
                  "model_context_window_exceeded": "length", "tool_use": "tool_calls",
                  "refusal": "content_filter"}

# Claude has no JSON mode; json_schema maps to structured outputs, json_object to this instruction.
JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."

# What follows a conversation that ends with the assistant: Claude 4.6 and later refuse to continue
# an assistant message (prefill), and OpenAI answers such a conversation with a new message.
CONTINUE = "Continue."

# What Claude takes of a request's images (its vision guide, and the API's own errors): PNG, JPEG, GIF
# and WEBP; at most 5 MB of base64 an image ("image exceeds 5 MB maximum: N bytes > 5242880 bytes",
# N counting the base64); 600 images a request on any model (100 on models with a 200k-token
# context window, which answer more with an error of their own).
IMAGE_LIMITS = ImageLimits("Claude", ("image/png", "image/jpeg", "image/gif", "image/webp"),
                           image_bytes=5 * 1024 * 1024, images=600)

_EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh"}


def default_max_tokens(model: str) -> int:
    return next((limit for prefix, limit in _MAX_TOKENS_BY_PREFIX if model.startswith(prefix)), DEFAULT_MAX_TOKENS)


# -- requests -------------------------------------------------------------------------------------

def messages_request(params: dict[str, Any], *, model: str, max_tokens: int | None, stream: bool) -> dict[str, Any]:
    """The Messages API body for a chat-completions body. ``max_tokens`` is the configured default
    for requests that set no limit (``None``: a default per model)."""
    system, turns = [], []
    images = IMAGE_LIMITS.check()
    for i, message in enumerate(params.get("messages") or ()):
        role = message.get("role")
        if role in ("system", "developer"):
            if text := _text(message.get("content")):
                system.append(text)
        elif role == "user":
            _add_turn(turns, "user", _user_blocks(message.get("content"), i, images))
        elif role == "assistant":
            _add_turn(turns, "assistant", _assistant_blocks(message, i))
        elif role == "tool":
            _add_turn(turns, "user", [_tool_result(message)])
        else:
            raise InvalidRequest(f"Claude does not accept messages with role {role!r}.", param=f"messages[{i}].role")
    for turn in turns:  # a user turn answering tool calls must start with their results
        turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    if turns and turns[-1]["role"] == "assistant":
        turns.append({"role": "user", "content": [{"type": "text", "text": CONTINUE}]})

    limit = params.get("max_completion_tokens") or params.get("max_tokens")
    body: dict[str, Any] = {"model": model, "max_tokens": limit or max_tokens or default_max_tokens(model),
                            "messages": turns}
    fmt = params.get("response_format") or {}
    if fmt.get("type") == "json_object":
        system.append(JSON_OBJECT_INSTRUCTION)
    elif fmt.get("type") == "json_schema":
        body["output_config"] = {"format": _output_format(fmt.get("json_schema") or {})}
    if system:
        body["system"] = "\n\n".join(system)
    if params.get("tools"):
        body["tools"] = [_tool(tool, i) for i, tool in enumerate(params["tools"])]
        choice = _tool_choice(params.get("tool_choice"), params.get("parallel_tool_calls"))
        if choice:
            body["tool_choice"] = choice
    stop = params.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    body.update(_sampling(params.get("temperature"), params.get("top_p")))
    if params.get("reasoning_effort") in _EFFORT:
        body.setdefault("output_config", {})["effort"] = _EFFORT[params["reasoning_effort"]]
    if params.get("user"):
        body["metadata"] = {"user_id": params["user"]}
    body["stream"] = stream
    return body


def _add_turn(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Claude needs user and assistant turns to alternate: consecutive same-role messages merge."""
    if not blocks:
        return  # Claude rejects empty content, and an empty turn says nothing
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text") or "" for part in content or () if part.get("type") == "text")


def _user_blocks(content: Any, i: int, images: ImageCheck) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for j, part in enumerate(content or ()):
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image(part["image_url"]["url"], f"messages[{i}].content[{j}]", images))
        else:
            raise InvalidRequest(f"Claude does not accept {kind!r} content parts.", param=f"messages[{i}].content")
    return blocks


def _image(url: str, param: str, images: ImageCheck) -> dict[str, Any]:
    """An image block: a ``data:`` URL's media type and base64 data, or a URL Claude fetches itself
    (counted among the request's images, its type and size unknown until Claude fetches it). Claude
    has no ``detail``: it is dropped."""
    try:
        data = split_data_url(url)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param=param) from None
    if data is not None:
        images.add(param, *data)
        return {"type": "image", "source": {"type": "base64", "media_type": data[0], "data": data[1]}}
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidRequest("Claude takes images by http(s) URL or as data: URLs.", param=param)
    images.add(param, None)
    return {"type": "image", "source": {"type": "url", "url": url}}


def _assistant_blocks(message: dict[str, Any], i: int) -> list[dict[str, Any]]:
    text = _text(message.get("content"))
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for call in message.get("tool_calls") or ():
        tool_input = call_arguments(call)
        if tool_input is None:
            raise InvalidRequest(f"The arguments of tool call {call['id']!r} are not a JSON object, which Claude "
                                 "requires.", param=f"messages[{i}].tool_calls")
        blocks.append({"type": "tool_use", "id": tool_use_id(call["id"]), "name": call["function"]["name"],
                       "input": tool_input})
    return blocks


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id(message.get("tool_call_id") or "")}
    if content := _text(message.get("content")):
        block["content"] = content
    return block


def call_id(tool_use_id: str) -> str:
    """The OpenAI-style id users see for Claude's ``toolu_…`` id: ``call_toolu_…``."""
    return f"call_{tool_use_id}"


def tool_use_id(call_id: str) -> str:
    """Back to Claude's id: ``call_toolu_…`` loses its prefix. Claude's ids match ``[a-zA-Z0-9_-]+``;
    ids made elsewhere are made to fit, the same way for a call and for its result, so the pair still
    matches."""
    if call_id.startswith("call_toolu_"):
        return call_id[len("call_"):]
    return re.sub(r"[^a-zA-Z0-9_-]", "_", call_id) or "_"


def _tool(tool: dict[str, Any], i: int) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise InvalidRequest(f"Claude does not accept {tool.get('type')!r} tools.", param=f"tools[{i}].type")
    fn = tool["function"]
    out = {"name": fn["name"], "input_schema": {"type": "object", **(fn.get("parameters") or {})}}
    if fn.get("description"):
        out["description"] = fn["description"]
    if fn.get("strict"):
        out["strict"] = True
    return out


def _tool_choice(choice: Any, parallel: bool | None) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None  # Claude's default: auto, parallel calls allowed
    if choice in (None, "auto"):
        mapped = {"type": "auto"}
    elif choice == "required":
        mapped = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        mapped = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise InvalidRequest(f"Unsupported tool_choice {choice!r}.", param="tool_choice")
    if parallel is False:
        mapped["disable_parallel_tool_use"] = True
    return mapped


def _sampling(temperature: float | None, top_p: float | None) -> dict[str, float]:
    """Recent Claude models take temperature or top_p, not both, and runs always carry both (1.0 unless
    set): send the one the caller tuned. Claude's temperature range is 0-1, OpenAI's 0-2."""
    if top_p is not None and top_p < 1 and temperature in (None, 1):
        return {"top_p": top_p}
    if temperature is not None:
        return {"temperature": min(max(temperature, 0.0), 1.0)}
    return {}


def _output_format(json_schema: dict[str, Any]) -> dict[str, Any]:
    from anthropic import transform_schema  # the SDK's own adjustment to what structured outputs accept

    try:
        schema = transform_schema(json_schema.get("schema") or {"type": "object"})
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"Claude cannot use this JSON schema: {exc}", param="response_format") from exc
    return {"type": "json_schema", "schema": schema}


# -- responses ------------------------------------------------------------------------------------

def finish_reason(stop_reason: str | None) -> str:
    return FINISH_REASONS.get(stop_reason or "", "stop")


def usage(anthropic_usage: dict[str, Any]) -> dict[str, Any]:
    """Claude counts cached prompt tokens apart from ``input_tokens``; OpenAI counts them in."""
    cached = anthropic_usage.get("cache_read_input_tokens") or 0
    prompt = (anthropic_usage.get("input_tokens") or 0) + (anthropic_usage.get("cache_creation_input_tokens") or 0)
    prompt += cached
    completion = anthropic_usage.get("output_tokens") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}


def chat_completion(message: Any) -> dict[str, Any]:
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise BadGateway("The model provider sent something other than a message.")
    blocks = message["content"]
    text = "".join(b.get("text") or "" for b in blocks if b.get("type") == "text")
    calls = [{"id": call_id(b["id"]), "type": "function",
              "function": {"name": b["name"], "arguments": json.dumps(b.get("input") or {})}}
             for b in blocks if b.get("type") == "tool_use"]
    reply: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        reply["tool_calls"] = calls
    choice = {"index": 0, "message": reply, "logprobs": None,
              "finish_reason": finish_reason(message.get("stop_reason"))}
    return {"id": message.get("id") or "msg", "object": "chat.completion", "created": int(time.time()),
            "model": message.get("model") or "", "choices": [choice], "usage": usage(message.get("usage") or {})}


class StreamTranslator:
    """Turns Messages API stream events into chat-completion chunks, one event at a time.

    A tool call's id and name go only in its first chunk, as OpenAI streams them. The finishing chunk
    waits for ``message_stop``, so a stream cut short ends without a ``finish_reason``. Events that
    mean nothing here (ping, thinking and signature deltas, types added later) are skipped."""

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.base: dict[str, Any] | None = None
        self.tools: dict[int, dict[str, Any]] = {}  # content block index -> its call
        self.stop_reason: str | None = None
        self.usage: dict[str, Any] = {}

    def chunks(self, event: Any) -> Iterator[dict[str, Any]]:
        if not isinstance(event, dict):
            raise BadGateway("The model provider sent a stream event that is not an object.")
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.base = {"id": message.get("id") or "msg", "object": "chat.completion.chunk",
                         "created": int(time.time()), "model": message.get("model") or ""}
            self.usage = dict(message.get("usage") or {})
            yield self._chunk({"role": "assistant", "content": ""})
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                call = {"index": len(self.tools), "input": block.get("input") or {}, "streamed": False}
                self.tools[event["index"]] = call
                yield self._chunk({"tool_calls": [{"index": call["index"], "id": call_id(block["id"]),
                                                   "type": "function",
                                                   "function": {"name": block["name"], "arguments": ""}}]})
            elif block.get("type") == "text" and block.get("text"):
                yield self._chunk({"content": block["text"]})
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                yield self._chunk({"content": delta["text"]})
            elif delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                if call := self.tools.get(event.get("index")):
                    call["streamed"] = True
                    yield self._arguments(call, delta["partial_json"])
        elif kind == "content_block_stop":
            call = self.tools.get(event.get("index"))
            if call and not call["streamed"]:  # no input deltas: the call has no arguments (or came whole)
                yield self._arguments(call, json.dumps(call["input"]))
        elif kind == "message_delta":
            self.stop_reason = (event.get("delta") or {}).get("stop_reason") or self.stop_reason
            self.usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            yield self._chunk({}, finish_reason(self.stop_reason))
            if self.include_usage:
                yield {**self.base, "choices": [], "usage": usage(self.usage)}

    def _arguments(self, call: dict[str, Any], arguments: str) -> dict[str, Any]:
        return self._chunk({"tool_calls": [{"index": call["index"], "function": {"arguments": arguments}}]})

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        if self.base is None:
            raise BadGateway("The model provider's stream did not start with message_start.")
        return {**self.base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
