"""Chat-completions bodies -> Gemini ``generateContent`` arguments, and Gemini responses -> chat
completions and chunks. Plain dicts in the google-genai SDK's field names; no SDK import here."""

from __future__ import annotations

import base64
import json
import mimetypes
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

from supercompat.errors import BadGateway, InvalidRequest
from supercompat.images import ImageCheck, ImageLimits, split_data_url
from supercompat.providers import call_arguments

from .schema import gemini_schema

FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}
FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
            "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"}
# Gemini ends these turns without an answer the chat-completions shapes can carry: the turn fails.
FAILED = {"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS",
          "MISSING_THOUGHT_SIGNATURE"}
SAMPLING = ("temperature", "top_p", "top_k", "seed", "presence_penalty", "frequency_penalty")  # same names
TOOL_CHOICE = {"auto": "AUTO", "none": "NONE", "required": "ANY"}

# What Gemini takes of a request's images (its image-understanding guide): PNG, JPEG, WEBP, HEIC and
# HEIF (no GIF); inline data within the 20 MB a request may be ("Request payload size exceeds the
# limit: 20971520 bytes"), counted here as the base64 of its inline images.
IMAGE_LIMITS = ImageLimits("Gemini", ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"),
                           request_bytes=20 * 1024 * 1024)

# What a call id stands for on Gemini's side: its own call ``id`` and the part's ``thought_signature``,
# both of which must come back with the call in the next request. Remembered by the adapter.
CallMemory = dict[str, dict[str, Any]]


def invalid(message: str, param: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param=param)


# -- request ---------------------------------------------------------------------------------------


def to_gemini(params: dict[str, Any], memory: CallMemory) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``(contents, config)`` for ``models.generate_content`` from a chat-completions body."""
    system, contents = _contents(params.get("messages") or [], memory)
    config: dict[str, Any] = {"automatic_function_calling": {"disable": True}}
    if not contents:  # Gemini needs a turn; OpenAI takes a conversation of system messages alone
        if not system:
            raise invalid("messages must hold at least one message with content.", "messages")
        contents, system = [{"role": "user", "parts": [{"text": "\n\n".join(system)}]}], []
    if system:
        config["system_instruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    for name in SAMPLING:
        if params.get(name) is not None:
            config[name] = params[name]
    limit = params.get("max_completion_tokens") or params.get("max_tokens")
    if limit:
        config["max_output_tokens"] = limit
    stop = params.get("stop")
    if stop:
        config["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if (params.get("n") or 1) != 1:
        raise invalid("Gemini answers with one choice per request here: n must be 1.", "n")
    config.update(_response_format(params.get("response_format")))
    tools = params.get("tools") or []
    if tools:
        config["tools"] = [{"function_declarations": [_declaration(t, i) for i, t in enumerate(tools)]}]
        mode = _tool_config(params.get("tool_choice"))
        if mode:
            config["tool_config"] = {"function_calling_config": mode}
    return contents, config


def _response_format(fmt: Any) -> dict[str, Any]:
    kind = (fmt or {}).get("type")
    if kind == "json_object":
        return {"response_mime_type": "application/json"}
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        if not schema:
            return {"response_mime_type": "application/json"}
        return {"response_mime_type": "application/json",
                "response_schema": gemini_schema(schema, "response_format.json_schema.schema")}
    return {}


def _declaration(tool: dict[str, Any], i: int) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise invalid(f"Only function tools can be sent to Gemini, not {tool.get('type')!r}.", f"tools[{i}]")
    fn = tool["function"]
    declaration = {"name": fn["name"]}
    if fn.get("description"):
        declaration["description"] = fn["description"]
    parameters = fn.get("parameters")
    if parameters:
        schema = gemini_schema(parameters, f"tools[{i}].function.parameters")
        if schema.get("properties"):  # Gemini refuses an OBJECT without properties: a call without arguments
            declaration["parameters"] = schema
    return declaration


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, str):
        return {"mode": TOOL_CHOICE[choice]} if choice in TOOL_CHOICE else None
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"mode": "ANY", "allowed_function_names": [choice["function"]["name"]]}
    return None


def _contents(messages: list[dict[str, Any]], memory: CallMemory) -> tuple[list[str], list[dict[str, Any]]]:
    """System texts, and the turns: ``user`` and ``model`` alternating, a model turn's function calls
    answered by one user turn of function responses in the order the calls were made."""
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    calls: dict[str, tuple[int, str]] = {}  # open call id -> (position in its turn, function name)
    answers: list[tuple[int, dict[str, Any]]] = []
    images = IMAGE_LIMITS.check()

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    answered: list[str] = []

    def close_round() -> None:
        missing = [call_id for call_id in calls if call_id not in answered]
        if missing:
            raise invalid("An assistant message with 'tool_calls' must be followed by tool messages "
                          "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                          "response messages: " + ", ".join(missing), "messages")
        add("user", [part for _, part in sorted(answers, key=lambda a: a[0])])
        calls.clear()
        answers.clear()
        answered.clear()

    for i, message in enumerate(messages):
        role = message.get("role")
        if role != "tool" and calls:
            close_round()
        if role in ("system", "developer"):
            system.append(_text(message.get("content"), f"messages[{i}].content"))
        elif role == "user":
            add("user", _user_parts(message.get("content"), f"messages[{i}].content", images))
        elif role == "assistant":
            parts = []
            text = _text(message.get("content"), f"messages[{i}].content")
            if text:
                parts.append({"text": text})
            for n, call in enumerate(message.get("tool_calls") or ()):
                name = call["function"]["name"]
                calls[call["id"]] = (n, name)
                parts.append(_call_part(call, memory, f"messages[{i}].tool_calls[{n}]"))
            add("model", parts)
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in calls or call_id in answered:
                raise invalid("Invalid parameter: messages with role 'tool' must be a response to a "
                              "preceding message with 'tool_calls'.", f"messages[{i}].tool_call_id")
            position, name = calls[call_id]
            output = _text(message.get("content"), f"messages[{i}].content")
            response: dict[str, Any] = {"name": name, "response": {"result": output}}
            if memory.get(call_id, {}).get("id"):
                response["id"] = memory[call_id]["id"]
            answers.append((position, {"function_response": response}))
            answered.append(call_id)
        else:
            raise invalid(f"Unsupported role {role!r}.", f"messages[{i}].role")
    if calls:
        close_round()
    return system, contents


def _call_part(call: dict[str, Any], memory: CallMemory, where: str) -> dict[str, Any]:
    args = call_arguments(call)
    if args is None:
        raise invalid(f"{where}.function.arguments must be a JSON object for Gemini.", where)
    function_call: dict[str, Any] = {"name": call["function"]["name"], "args": args}
    known = memory.get(call["id"], {})
    if known.get("id"):
        function_call["id"] = known["id"]
    part: dict[str, Any] = {"function_call": function_call}
    if known.get("thought_signature"):
        part["thought_signature"] = known["thought_signature"]
    return part


def _text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return "".join(p.get("text") or p.get("refusal") or "" for p in content
                       if p.get("type") in ("text", "refusal"))
    raise invalid(f"{where} must be a string or a list of content parts.", where)


def _user_parts(content: Any, where: str, images: ImageCheck) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            parts.append(_image_part(part["image_url"]["url"], f"{where}[{j}]", images))
        elif kind == "input_audio":
            audio = part["input_audio"]
            mime = f"audio/{audio.get('format', 'wav')}"
            parts.append({"inline_data": {"mime_type": mime, "data": audio["data"]}})
        else:
            raise invalid(f"Content parts of type {kind!r} can't be sent to Gemini.", f"{where}[{j}]")
    return parts


def _image_type(mime: str) -> str | None:
    return mime if mime.startswith("image/") else None


def _image_part(url: str, where: str, images: ImageCheck) -> dict[str, Any]:
    """``data:`` URLs become inline data; other URLs become file data, which Gemini fetches itself.
    Either is checked against :data:`IMAGE_LIMITS` (a URL's type is the one its extension says);
    media other than images (a PDF, which Gemini reads too) only count toward the request's size.
    The part's ``detail`` is dropped: Gemini's nearest, a part's ``media_resolution``, is for some
    models and API versions only."""
    try:
        data = split_data_url(url)
    except ValueError as exc:
        raise invalid(f"{where}: {exc}", where) from None
    if data is not None:
        images.add(where, _image_type(data[0]), data[1])
        return {"inline_data": {"mime_type": data[0], "data": data[1]}}
    mime = mimetypes.guess_type(url.split("?")[0])[0] or "image/jpeg"
    images.add(where, _image_type(mime))
    return {"file_data": {"file_uri": url, "mime_type": mime}}


# -- response --------------------------------------------------------------------------------------


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


class Turn:
    """Reads the GenerateContentResponses of one model turn (one, or a stream of them) as dicts in
    the SDK's JSON names, keeping the finish reason, usage and tool-call numbering across chunks."""

    def __init__(self, params: dict[str, Any], remember: Callable[[str, dict[str, Any]], None]) -> None:
        self.model = params["model"]
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        self.parallel = params.get("parallel_tool_calls", True) is not False
        self.remember = remember
        self.calls = 0
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None

    def read(self, response: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        """The text and the tool calls (with fresh ``call_`` ids) that one response adds."""
        if response.get("usageMetadata"):
            self.usage = usage(response["usageMetadata"])
        candidates = response.get("candidates") or []
        if not candidates:
            if (response.get("promptFeedback") or {}).get("blockReason"):
                self.finish = "content_filter"  # the prompt itself was blocked
            return "", []
        candidate = candidates[0]
        text, calls = [], []
        for part in (candidate.get("content") or {}).get("parts") or ():
            if part.get("thought"):
                continue  # thought summaries are not the answer
            if part.get("text"):
                text.append(part["text"])
            call = part.get("functionCall")
            if call and (self.parallel or self.calls == 0):
                call_id = new_call_id()
                kept: dict[str, Any] = {}
                if call.get("id"):
                    kept["id"] = call["id"]
                if part.get("thoughtSignature"):  # base64 in JSON; the SDK takes the bytes back
                    kept["thought_signature"] = base64.b64decode(part["thoughtSignature"])
                if kept:
                    self.remember(call_id, kept)
                calls.append({"index": self.calls, "id": call_id, "type": "function",
                              "function": {"name": call.get("name") or "",
                                           "arguments": json.dumps(call.get("args") or {})}})
                self.calls += 1
        reason = candidate.get("finishReason")
        if reason:
            if reason in FAILED:
                detail = candidate.get("finishMessage") or "Gemini did not produce a usable answer."
                raise BadGateway(f"Gemini ended the turn with {reason}: {detail}", code=reason.lower())
            self.finish = "content_filter" if reason in FILTERED else FINISH.get(reason, "stop")
        return "".join(text), calls

    def finish_reason(self) -> str | None:
        if self.finish == "stop" and self.calls:
            return "tool_calls"
        return self.finish

    def completion(self, response: dict[str, Any]) -> dict[str, Any]:
        text, calls = self.read(response)
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if calls:
            message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": self.finish_reason() or "stop"}],
                "usage": self.usage or usage({})}

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def chunks(self, response: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The chat-completion chunks for one streamed response. Gemini sends each function call
        whole, so each becomes one fragment carrying id, name and all its arguments."""
        text, calls = self.read(response)
        if text:
            yield self.chunk({"content": text})
        for call in calls:
            yield self.chunk({"tool_calls": [call]})

    def ending(self, include_usage: bool) -> Iterator[dict[str, Any]]:
        """The finishing chunk (none if Gemini never said the turn was over) and the usage chunk."""
        if self.finish_reason():
            yield self.chunk({}, self.finish_reason())
        if include_usage and self.usage:
            yield {**self.chunk({}), "choices": [], "usage": self.usage}


class StreamedTurn:
    """A turn streamed: the chunks of each SDK response (the role chunk only once Gemini answers, so
    that a refusal fails before any chunk), then the ending."""

    def __init__(self, turn: Turn, include_usage: bool) -> None:
        self.turn, self.include_usage, self.started = turn, include_usage, False

    def chunks(self, response: Any) -> Iterator[dict[str, Any]]:
        if not self.started:
            self.started = True
            yield self.turn.chunk({"role": "assistant", "content": ""})
        yield from self.turn.chunks(as_dict(response))

    def end(self) -> Iterator[dict[str, Any]]:
        return self.turn.ending(self.include_usage)


def as_dict(response: Any) -> dict[str, Any]:
    """An SDK response as Gemini's JSON (its field names)."""
    return response.model_dump(mode="json", by_alias=True, exclude_none=True)


def usage(meta: dict[str, Any]) -> dict[str, Any]:
    """OpenAI usage from Gemini's usageMetadata; thinking tokens count as completion tokens, as
    OpenAI counts reasoning tokens."""
    prompt = meta.get("promptTokenCount", 0) + meta.get("toolUsePromptTokenCount", 0)
    thoughts = meta.get("thoughtsTokenCount", 0)
    completion = meta.get("candidatesTokenCount", 0) + thoughts
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": meta.get("totalTokenCount") or prompt + completion,
            "prompt_tokens_details": {"cached_tokens": meta.get("cachedContentTokenCount", 0)},
            "completion_tokens_details": {"reasoning_tokens": thoughts}}
