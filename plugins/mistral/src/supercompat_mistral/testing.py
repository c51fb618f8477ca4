"""A loopback fake of Mistral's chat-completions and embeddings API, byte-compatible with what
``mistralai`` reads.

    with FakeMistralProvider() as fake:
        sdk = Mistral(api_key="k", server_url=fake.server_url)
        fake.script(Reply(text="Sunny."), Reply(tool_calls=[("get_weather", {"city": "Paris"})]),
                    Error(429, "Requests rate limit exceeded"))
        ...
        assert fake.chat_requests[0]["messages"][0]["role"] == "system"

It checks requests the way Mistral does (a bearer key; no fields Mistral doesn't know, 422; its
message-order, tool-call id and prefix rules, 400, in Mistral's error shapes), so a translation slip
fails a test instead of passing silently. Unscripted requests get :func:`default_reply`. Answers to
a request whose last message is an assistant ``prefix`` start with that prefix, as Mistral's do.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from supercompat.testing.loopback import Garbled, Hang, LoopbackHandler, LoopbackProvider, Scripted, Truncated  # noqa: F401 (the shared scenarios, imported from here too)
from supercompat.testing.scripted import Reply, default_reply

from .translate import new_mistral_id

MODEL = "mistral-small-latest"
_ID = re.compile(r"[a-zA-Z0-9]{9}")
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_REQUEST_FIELDS = {"model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed",
                   "metadata", "response_format", "tools", "tool_choice", "presence_penalty", "frequency_penalty",
                   "min_tokens", "repetition_penalty", "top_k", "logprobs", "top_logprobs", "prompt_logprobs",
                   "top_prompt_logprobs", "n", "prediction", "parallel_tool_calls", "reasoning_effort",
                   "prompt_mode", "guardrails", "prompt_cache_key", "service_tier", "safe_prompt"}
_MESSAGE_FIELDS = {"system": {"role", "content"}, "user": {"role", "content"},
                   "assistant": {"role", "content", "tool_calls", "prefix"},
                   "tool": {"role", "content", "tool_call_id", "name"}}
_CHUNK_FIELDS = {"text": {"type", "text"}, "image_url": {"type", "image_url"}}
_NEXT_ROLES = {"system": {"system", "user", "assistant"}, "user": {"system", "user", "assistant"},
               "assistant": {"assistant", "user", "tool"}, "tool": {"assistant", "tool"}}


@dataclass
class Error:
    """An HTTP error in Mistral's shape: ``{"object": "error", "message", "type", "param", "code"}``."""

    status: int = 500
    message: str = "Internal server error"
    type: str = "internal_server_error"
    code: str | None = None


class _Rejected(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status, self.body = status, body


def _invalid(message: str) -> _Rejected:
    return _Rejected(400, {"object": "error", "message": message, "type": "invalid_request_error",
                           "param": None, "code": None})


def _extra(loc: list[Any]) -> dict[str, Any]:
    return {"type": "extra_forbidden", "loc": ["body", *loc], "msg": "Extra inputs are not permitted"}


def validate(body: Any) -> None:
    """Raise :class:`_Rejected` where Mistral would refuse this chat request."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not isinstance(
            body.get("messages"), list):
        raise _Rejected(422, {"object": "error", "message": {"detail": [
            {"type": "missing", "loc": ["body", "model" if isinstance(body, dict) else ""],
             "msg": "Field required"}]}, "type": "invalid_request_error", "param": None, "code": None})
    problems = [_extra([key]) for key in body if key not in _REQUEST_FIELDS]
    for i, message in enumerate(body["messages"]):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in _MESSAGE_FIELDS:
            problems.append({"type": "union_tag_invalid", "loc": ["body", "messages", i],
                             "msg": f"Input tag '{role}' found using 'role' does not match any of the expected tags"})
            continue
        problems += [_extra(["messages", i, role, key]) for key in message if key not in _MESSAGE_FIELDS[role]]
        if role == "user" and isinstance(message.get("content"), list):
            problems += _chunk_problems(message["content"], ["messages", i, role, "content"])
        for j, call in enumerate(message.get("tool_calls") or ()):
            problems += [_extra(["messages", i, role, "tool_calls", j, key]) for key in call
                         if key not in {"id", "type", "function", "index"}]
    if problems:
        raise _Rejected(422, {"object": "error", "message": {"detail": problems}, "type": "invalid_request_error",
                              "param": None, "code": None})
    _validate_conversation(body["messages"])
    names = {(t.get("function") or {}).get("name") for t in body.get("tools") or ()}
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise _invalid(f"Function name was {name} but must be a-z, A-Z, 0-9, or contain underscores and "
                           "dashes, with a maximum length of 64.")
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name") not in names:
        raise _invalid("Tool choice names a function that is not in tools.")
    if choice is not None and not isinstance(choice, dict) and choice not in ("auto", "none", "any", "required"):
        raise _invalid(f"Invalid tool_choice: {choice}")


def _chunk_problems(chunks: list[Any], loc: list[Any]) -> list[dict[str, Any]]:
    """Text and image chunks as Mistral takes them: ``{"type": "image_url", "image_url": URL}`` or
    ``{"image_url": {"url", "detail"}}``, the URL an http(s) or ``data:`` URL."""
    problems = []
    for j, chunk in enumerate(chunks):
        kind = chunk.get("type") if isinstance(chunk, dict) else None
        if kind not in _CHUNK_FIELDS:
            problems.append({"type": "union_tag_invalid", "loc": ["body", *loc, j],
                             "msg": f"Input tag '{kind}' found using 'type' does not match any of the expected "
                                    "tags"})
            continue
        problems += [_extra([*loc, j, kind, key]) for key in chunk if key not in _CHUNK_FIELDS[kind]]
        if kind != "image_url":
            continue
        image = chunk.get("image_url")
        if isinstance(image, dict):
            problems += [_extra([*loc, j, kind, "image_url", key]) for key in image
                         if key not in ("url", "detail")]
            if image.get("detail") not in (None, "low", "auto", "high"):
                problems.append({"type": "enum", "loc": ["body", *loc, j, kind, "image_url", "detail"],
                                 "msg": "Input should be 'low', 'auto' or 'high'"})
            image = image.get("url")
        if not isinstance(image, str) or not image.startswith(("http://", "https://", "data:")):
            problems.append({"type": "value_error", "loc": ["body", *loc, j, kind, "image_url"],
                             "msg": "Image URL must be an http(s) URL or a data: URL"})
    return problems


def _validate_conversation(messages: list[dict[str, Any]]) -> None:
    if not messages:
        raise _invalid("Conversation must have at least one message")
    previous = None
    expected: set[str] = set()  # ids of the calls the latest assistant message made, still unanswered
    for i, message in enumerate(messages):
        role = message["role"]
        if previous and role not in _NEXT_ROLES[previous]:
            raise _invalid(f"Unexpected role '{role}' after role '{previous}'")
        if role == "assistant":
            if expected:
                raise _invalid("Not the same number of function calls and responses")
            calls = message.get("tool_calls") or []
            if not message.get("content") and not calls:
                raise _invalid("Assistant message must have either content or tool_calls, but not none.")
            if message.get("prefix") and i != len(messages) - 1:
                raise _invalid("Assistant message with prefix True must be last message")
            for call in calls:
                if not isinstance(call.get("id"), str) or not _ID.fullmatch(call["id"]):
                    raise _invalid(f"Tool call id was {call.get('id')} but must be a-z, A-Z, 0-9, with a length of 9.")
                expected.add(call["id"])
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not _ID.fullmatch(call_id):
                raise _invalid(f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9.")
            if call_id not in expected:
                raise _invalid(f"Unexpected tool call id {call_id} in tool results")
            expected.discard(call_id)
        previous = role
    if expected:
        raise _invalid("Not the same number of function calls and responses")
    last = messages[-1]
    if last["role"] not in ("user", "tool") and not (last["role"] == "assistant" and last.get("prefix")):
        raise _invalid("Expected last role User or Tool (or Assistant with prefix True) for serving but got "
                       f"{last['role']}")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text") or "" for p in content or () if isinstance(p, dict))


def _usage(body: dict[str, Any], completion: int) -> dict[str, int]:
    prompt = sum(len(_text(m.get("content"))) for m in body["messages"]) // 4 + 1
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# The size of the vectors of Mistral's embedding models (other models the fake serves: 256), and the
# largest output_dimension they take (None: none).
EMBEDDING_MODELS = {"mistral-embed": (1024, None), "codestral-embed": (1536, 3072)}
EMBEDDING_MAX_INPUTS = 512
EMBEDDING_MAX_TOKENS = 8192
EMBEDDING_MAX_REQUEST_TOKENS = 16_384
_EMBEDDING_FIELDS = {"model", "input", "metadata", "output_dimension", "output_dtype", "encoding_format"}


def _too_many(message: str) -> _Rejected:
    return _Rejected(400, {"object": "error", "message": message, "type": "invalid_request_prompt",
                           "param": None, "code": "3210"})


def embedding_request(body: Any, models: tuple[str, ...]) -> tuple[list[str], int]:
    """The texts of an embeddings request and the size of their vectors; :class:`_Rejected` where
    Mistral would refuse it."""
    from supercompat.ingest import count_tokens

    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or "input" not in body:
        raise _Rejected(422, {"object": "error", "message": {"detail": [
            {"type": "missing", "loc": ["body", "input"], "msg": "Field required"}]},
            "type": "invalid_request_error", "param": None, "code": None})
    problems = [_extra([key]) for key in body if key not in _EMBEDDING_FIELDS]
    texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        problems.append({"type": "string_type", "loc": ["body", "input"],
                         "msg": "Input should be a valid string"})
    if problems:
        raise _Rejected(422, {"object": "error", "message": {"detail": problems},
                              "type": "invalid_request_error", "param": None, "code": None})
    model = body["model"]
    if model not in EMBEDDING_MODELS and model not in models:
        raise _Rejected(400, {"object": "error", "message": f"Invalid model: {model}",
                              "type": "invalid_model", "param": None, "code": "1500"})
    if not texts:
        raise _invalid("Input must not be empty.")
    if len(texts) > EMBEDDING_MAX_INPUTS:
        raise _too_many("Too many inputs in request, split into more batches.")
    counts = [count_tokens(text) for text in texts]
    if max(counts) > EMBEDDING_MAX_TOKENS:
        raise _too_many(f"Too many tokens in input {counts.index(max(counts))}: {max(counts)} tokens, the "
                        f"maximum is {EMBEDDING_MAX_TOKENS}.")
    if sum(counts) > EMBEDDING_MAX_REQUEST_TOKENS:
        raise _too_many("Too many tokens overall, split into more batches.")
    native, largest = EMBEDDING_MODELS.get(model, (256, None))
    dimensions = body.get("output_dimension")
    if dimensions is not None:
        if largest is None:
            raise _invalid(f"output_dimension is not supported for model {model}.")
        if not isinstance(dimensions, int) or not 1 <= dimensions <= largest:
            raise _invalid(f"output_dimension must be between 1 and {largest}.")
    return texts, dimensions or native


class _Handler(LoopbackHandler):
    fake: FakeMistralProvider

    def route(self, request: dict[str, Any]) -> None:
        fake = self.fake
        method, path, body = request["method"], request["path"], request["body"]
        chat = method == "POST" and path == "/v1/chat/completions"
        embeddings = method == "POST" and path == "/v1/embeddings"
        answer = fake.next_answer() if chat or embeddings else None  # taken even if refused
        key = request["headers"].get("authorization", "").removeprefix("Bearer ")
        if not key or (fake.api_key is not None and key != fake.api_key):
            return self.send_json(401, {"message": "Unauthorized", "request_id": uuid.uuid4().hex})
        if method == "GET" and path == "/v1/models":
            return self.send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "mistralai", "type": "base",
                 "capabilities": {"completion_chat": True, "function_calling": True, "vision": True}}
                for m in fake.models]})
        if embeddings:
            return self._embeddings(body, answer)
        if not chat:
            return self.send_json(404, {"detail": "Not Found"})
        try:
            validate(body)
        except _Rejected as rejected:
            return self.send_json(rejected.status, rejected.body)
        answer = fake.settle(answer, body)
        if isinstance(answer, Error):
            # Mistral's 422 (its schema check) nests pydantic-style details in the message.
            message = ({"detail": [{"type": "value_error", "loc": ["body"], "msg": answer.message}]}
                       if answer.status == 422 else answer.message)
            return self.send_json(answer.status, {"object": "error", "message": message, "type": answer.type,
                                                  "param": None, "code": answer.code})
        self._answer(body, answer)

    def _embeddings(self, body: Any, answer: Any) -> None:
        from supercompat.embedders import base64_vector, hashing_embedder
        from supercompat.ingest import count_tokens

        try:
            texts, dimensions = embedding_request(body, self.fake.models)
        except _Rejected as rejected:
            return self.send_json(rejected.status, rejected.body)
        if isinstance(answer, Hang):
            self.fake.pause(answer.seconds)
            answer = answer.then
        if isinstance(answer, Error):
            return self.send_json(answer.status, {"object": "error", "message": answer.message,
                                                  "type": answer.type, "param": None, "code": answer.code})
        if isinstance(answer, Garbled):
            return self.send(200, b'{"id":"x","data":[{')
        embedder = hashing_embedder(dimensions)
        base64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": base64_vector(vector) if base64 else vector}
                for i, vector in enumerate(embedder.vector(text) for text in texts)]
        tokens = sum(map(count_tokens, texts))
        usage = {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens}
        self.send_json(200, {"id": uuid.uuid4().hex, "object": "list", "data": data, "model": body["model"],
                             "usage": usage})

    def _answer(self, body: dict[str, Any], answer: Any) -> None:
        fake = self.fake
        last = body["messages"][-1]
        prefix = last["content"] if last["role"] == "assistant" and last.get("prefix") else ""
        reply = answer if isinstance(answer, Reply) else Reply(text="alpha bravo charlie")
        text = prefix + reply.text if reply.text or not reply.tool_calls else ""
        calls = [{"id": new_mistral_id(), "type": "function", "index": i,
                  "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
                 for i, (name, args) in enumerate(reply.tool_calls)]
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        usage = _usage(body, len(text.split()) + 8 * len(calls))
        base = {"id": uuid.uuid4().hex, "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            if isinstance(answer, Garbled):
                return self.send(200, b'{"id":"x","c')
            message = {"role": "assistant", "content": text, "tool_calls": calls or None, "prefix": False}
            return self.send_json(200, {**base, "object": "chat.completion", "usage": usage,
                                    "choices": [{"index": 0, "message": message, "finish_reason": finish}]})
        self.start_stream()

        def event(data: str) -> None:
            self.send_chunk(f"data: {data}\n\n".encode())

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> None:
            event(json.dumps({**base, "object": "chat.completion.chunk", **extra, "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish_reason}]}, separators=(",", ":")))

        chunk({"role": "assistant", "content": ""})
        words = re.findall(r"\s*\S+", text)
        if isinstance(answer, (Garbled, Truncated)):
            chunk({"content": words[0]})
            if isinstance(answer, Garbled):
                event('{"id":"x","choices":[{"delta":')
            return self.end_stream()
        for i, word in enumerate(words):
            if i:
                fake.between_pieces()
            chunk({"content": word})
        if calls:
            chunk({"content": "", "tool_calls": calls}, finish, usage=usage)
        else:
            chunk({"content": ""}, finish, usage=usage)
        event("[DONE]")
        self.end_stream()


class FakeMistralProvider(LoopbackProvider):
    """A ``ThreadingHTTPServer`` on 127.0.0.1 speaking Mistral's chat-completions wire format.
    ``api_key``: the only key accepted (default: any bearer key); ``word_delay``: seconds between
    streamed words (``stream_delay``). ``disconnects`` counts answers the client hung up on. ``script()`` queues answers
    (``Reply``, a ``str``, ``Error``, ``Garbled``, ``Truncated``, ``Hang``), one per chat request in
    order, then the default answer again."""

    name = "fake-mistral"
    handler = _Handler

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, models: tuple[str, ...] = (MODEL,),
                 api_key: str | None = None, word_delay: float = 0) -> None:
        super().__init__(host=host, port=port)
        self.models, self.api_key, self.stream_delay = models, api_key, word_delay

    @property
    def server_url(self) -> str:
        """What ``Mistral(server_url=...)`` takes: the host, without ``/v1``."""
        return self.url


    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat requests, oldest first."""
        return [r["body"] for r in self.requests if r["path"] == "/v1/chat/completions"]

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the embeddings requests, oldest first."""
        return [r["body"] for r in self.requests if r["path"] == "/v1/embeddings"]

    def default_answer(self, body: Any) -> Reply:
        return default_reply(body)

    def text_answer(self, text: str) -> Reply:
        return Reply(text=text)

    def sdk_client(self, asynchronous: bool, **options: Any) -> tuple[Any, list[Any]]:
        """A ``Mistral`` on this fake with only an async http client, or only a sync one (so an adapter
        uses its ``*_async`` methods, or its sync ones in threads); ``options`` go to ``Mistral``."""
        import httpx2
        from mistralai.client import Mistral

        options = {"api_key": "test-key", "server_url": self.server_url, **options}
        if asynchronous:
            http = httpx2.AsyncClient()
            return Mistral(async_client=http, **options), [http]
        http = httpx2.Client()
        return Mistral(client=http, **options), [http]


class ScriptedFakeMistral(Scripted):
    """The conformance kits' ``scripted_provider`` (``.adapter``, ``.script(*Reply)``, ``.fail``):
    supercompat Replies played by a :class:`FakeMistralProvider` in Mistral's wire format."""

    def error(self, status: int, message: str) -> Error:
        return Error(status, message, "invalid_request_error" if status < 500 else "internal_server_error")
