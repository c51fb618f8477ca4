"""A loopback fake of OpenAI's chat-completions API, byte-compatible with what the openai SDK reads.

    with FakeOpenAIProvider() as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
        fake.script(Text("hello world"), ToolCalls([("get_weather", '{"city":"Paris"}')]))
        ...
        assert fake.chat_requests[0]["model"] == "gpt-4o"

Unscripted requests get the default answer of the benchmark fake: ``tokens`` NATO-alphabet words
("alpha bravo charlie ..."), or, when the request has ``tools`` and the last message is a user
message mentioning "weather", a call to the first tool with ``{"location":"Paris"}``.

Also runnable: ``python -m supercompat_openai.testing [--port 0] [--port-file F]
[--latency-ms 0] [--tokens 20] [--token-delay-ms 0]`` prints ``FAKE_PROVIDER_PORT=<port>``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from supercompat.testing.loopback import Garbled, Hang, LoopbackHandler, LoopbackProvider, Scripted, Truncated  # noqa: F401 (the shared scenarios, imported from here too)

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett",
         "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
         "uniform", "victor", "whiskey", "xray", "yankee", "zulu")
MODEL = "fake-model"
# What OpenAI's embedding models answer with when the request names no ``dimensions``; other models: 256.
EMBEDDING_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
                        "text-embedding-ada-002": 1536}
EMBEDDING_MAX_TOKENS = 8192
EMBEDDING_MAX_REQUEST_TOKENS = 300_000


# -- scripted responses (each is consumed by one chat request) ------------------------------------

@dataclass
class Text:
    """A text answer. ``chunks`` sets the streamed pieces (default: one per word, spaces leading).
    ``usage`` entries replace the computed ones (here and in ``Length`` and ``ToolCalls``)."""

    text: str
    chunks: list[str] | None = None
    usage: dict[str, Any] | None = None
    finish_reason: str = "stop"


@dataclass
class Length(Text):
    """A text answer cut off by the token limit: ``finish_reason: "length"``."""

    finish_reason: str = "length"


@dataclass
class ToolCalls:
    """Parallel calls, given as ``(name, arguments)``; each call's arguments are streamed over
    ``fragments`` pieces after a first fragment that alone carries ``id``, ``type`` and ``name``."""

    calls: list[tuple[str, str | dict[str, Any]]]
    usage: dict[str, Any] | None = None
    fragments: int = 2


@dataclass
class Error:
    """An HTTP error in OpenAI's envelope."""

    status: int = 500
    message: str = "The server had an error while processing your request."
    type: str | None = "server_error"
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class MidStreamError:
    """A ``data: {"error": {...}}`` frame after ``after`` words (non-streaming: a 500 with that error)."""

    message: str = "The server had an error while processing your request."
    type: str | None = "server_error"
    code: str | None = None
    param: str | None = None
    after: int = 2


def _word(i: int) -> str:
    return ("" if i == 0 else " ") + WORDS[i % len(WORDS)]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _usage(body: dict[str, Any], completion_tokens: int, overrides: dict[str, Any] | None) -> dict[str, Any]:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    prompt = sum(len(_text(m.get("content"))) for m in messages) // 4 + 1
    usage = {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
             "total_tokens": prompt + completion_tokens, "prompt_tokens_details": {"cached_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": 0}}
    if overrides:
        usage.update(overrides)
        if "total_tokens" not in overrides:
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def _split(text: str, pieces: int) -> list[str]:
    if pieces <= 1 or len(text) < 2:
        return [text]
    step = -(-len(text) // pieces)
    return [text[i:i + step] for i in range(0, len(text), step)]


class _Handler(LoopbackHandler):
    fake: FakeOpenAIProvider

    def response_headers(self) -> dict[str, str]:
        return {"x-request-id": f"req_{uuid.uuid4().hex[:16]}"}

    def _error(self, status: int, message: str, type: str | None = "invalid_request_error",
               code: str | None = None, param: str | None = None,
               headers: dict[str, str] | None = None) -> None:
        error = {"message": message, "type": type, "param": param, "code": code}
        self.send_json(status, {"error": error}, headers)

    # routes
    def route(self, request: dict[str, Any]) -> None:
        fake = self.fake
        method, path, body = request["method"], request["path"], request["body"]
        if method == "GET" and path == "/stats":
            return self.send_json(200, fake.stats())
        scripted = fake.next_answer() if _is_chat(method, path) else None
        key = request["headers"].get("authorization", "").removeprefix("Bearer ")
        if fake.api_key is not None and key != fake.api_key:
            return self._error(401, f"Incorrect API key provided: {key}.", code="invalid_api_key")
        route = path.removeprefix("/v1")
        if method == "POST" and route == "/chat/completions":
            if not isinstance(body, dict):
                return self._error(400, "We could not parse the JSON body of your request.")
            return self._chat(body, scripted)
        if method == "POST" and route == "/embeddings":
            return self._embeddings(body)
        if method == "GET" and route == "/models":
            fake._count("model_requests")
            return self.send_json(200, {"object": "list", "data": [self._model(m) for m in fake.models]})
        if method == "GET" and route.startswith("/models/"):
            fake._count("model_requests")
            model = route.removeprefix("/models/")
            if model in fake.models:
                return self.send_json(200, self._model(model))
            return self._error(404, f"The model '{model}' does not exist or you do not have access to it.",
                               code="model_not_found")
        return self._error(404, f"Invalid URL ({method} {path})")

    # embeddings
    def _embeddings(self, body: Any) -> None:
        """Deterministic vectors (core's hashing embedder) in OpenAI's wire format, refusing what
        OpenAI refuses: no model or input, an empty text, an input over 8,192 tokens or a request
        over 300,000 (counted with core's cl100k tokenizer), ``dimensions`` above the model's size (or
        any for text-embedding-ada-002). Unlike OpenAI, it refuses token-id inputs too (it hashes
        words, so it needs the text)."""
        from supercompat.embedders import base64_vector, hashing_embedder
        from supercompat.ingest import count_tokens

        self.fake._count("embedding_requests")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return self._error(400, "you must provide a model parameter", param="model")
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or len(texts) > 2048 or not all(
                isinstance(t, str) and t for t in texts):
            return self._error(400, "'$.input' is invalid. Please check the API reference: "
                                    "https://platform.openai.com/docs/api-reference.", param="input")
        counts = [count_tokens(text) for text in texts]
        for count in counts:
            if count > EMBEDDING_MAX_TOKENS:
                return self._error(400, f"This model's maximum context length is {EMBEDDING_MAX_TOKENS} "
                                        f"tokens, however you requested {count} tokens. Please "
                                        f"reduce your prompt.", param="input")
        tokens = sum(counts)
        if tokens > EMBEDDING_MAX_REQUEST_TOKENS:
            return self._error(400, f"Requested {tokens} tokens, max {EMBEDDING_MAX_REQUEST_TOKENS} tokens "
                                    f"per request", param="input", code="max_tokens_per_request")
        model = body["model"]
        native = EMBEDDING_DIMENSIONS.get(model, 256)
        dimensions = body.get("dimensions")
        if dimensions is not None:
            if model == "text-embedding-ada-002":
                return self._error(400, "This model does not support specifying dimensions.",
                                   param="dimensions")
            if type(dimensions) is not int or not 1 <= dimensions <= native:
                return self._error(400, f"Invalid value for 'dimensions' = {dimensions}. Must be an integer "
                                        f"between 1 and {native}.", param="dimensions")
        embedder = hashing_embedder(dimensions or native)
        base64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i,
                 "embedding": base64_vector(vector) if base64 else vector}
                for i, vector in enumerate(embedder.vector(text) for text in texts)]
        self.send_json(200, {"object": "list", "data": data, "model": model,
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    @staticmethod
    def _model(model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1700000000, "owned_by": "supercompat"}

    # chat completions
    def _chat(self, body: dict[str, Any], response: Any) -> None:
        fake = self.fake
        if fake.latency:
            fake.pause(fake.latency)
        response = fake.settle(response, body)  # a str is shorthand for Text
        if isinstance(response, Error):
            fake._count("errors")
            return self._error(response.status, response.message, response.type, response.code,
                               response.param, response.headers)
        stream = bool(body.get("stream"))
        if isinstance(response, MidStreamError) and not stream:
            fake._count("errors")
            return self._error(500, response.message, response.type, response.code, response.param)
        base = {"id": fake._new_id("chatcmpl-"),
                "object": "chat.completion.chunk" if stream else "chat.completion",
                "created": int(time.time()), "model": body.get("model") or MODEL,
                "system_fingerprint": "fp_fake"}
        if stream:
            return self._stream(base, body, response)
        if isinstance(response, Garbled):
            return self.send(200, b'{"id":"' + base["id"].encode() + b'","choices":[{')
        if isinstance(response, Truncated):
            data = json.dumps({**base, "choices": []}).encode()
            head = self.head(200, {"Content-Type": "application/json", "Content-Length": str(len(data))})
            self.wfile.write(head + data[: len(data) // 2])
            return self.drop()
        if isinstance(response, ToolCalls):
            calls = [{"id": fake._new_id("call_"), "type": "function",
                      "function": {"name": name, "arguments": _args(args)}} for name, args in response.calls]
            message = {"role": "assistant", "content": None, "refusal": None, "annotations": [],
                       "tool_calls": calls}
            finish, spent = "tool_calls", sum(1 + len(_split(c["function"]["arguments"], response.fragments))
                                              for c in calls)
        else:
            message = {"role": "assistant", "content": response.text, "refusal": None, "annotations": []}
            finish, spent = response.finish_reason, len(_tokens(response))
        self.send_json(200, {**base, "choices": [{"index": 0, "message": message, "logprobs": None,
                                              "finish_reason": finish}],
                         "usage": _usage(body, spent, response.usage), "service_tier": "default"})

    def _stream(self, base: dict[str, Any], body: dict[str, Any], response: Any) -> None:
        fake = self.fake
        self.start_stream()

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            return json.dumps({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                    "finish_reason": finish}]}, separators=(",", ":"))

        def event(data: str) -> None:
            self.send_chunk(f"data: {data}\n\n".encode())

        spent = 0
        for data, token in self._events(response, chunk):
            if token:
                if spent:  # between consecutive tokens, not before the first
                    fake.between_pieces()
                spent += 1
            event(data)
        if isinstance(response, Truncated) and not response.clean:
            return self.drop()
        if not isinstance(response, (Truncated, MidStreamError)):
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = _usage(body, spent, getattr(response, "usage", None))
                event(json.dumps({**base, "choices": [], "usage": usage}, separators=(",", ":")))
            event("[DONE]")
        self.end_stream()

    def _events(self, response: Any, chunk: Any) -> Iterator[tuple[str, bool]]:
        """The SSE data payloads of one answer, each flagged when it carries a (counted) token."""
        fake = self.fake
        if isinstance(response, ToolCalls):
            for index, (name, args) in enumerate(response.calls):
                head = {"tool_calls": [{"index": index, "id": fake._new_id("call_"), "type": "function",
                                        "function": {"name": name, "arguments": ""}}]}
                yield chunk({"role": "assistant", "content": None, **head, "refusal": None} if index == 0
                            else head), True
                for piece in _split(_args(args), response.fragments):
                    yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}), True
            yield chunk({}, "tool_calls"), False
            return
        yield chunk({"role": "assistant", "content": ""}), False
        if isinstance(response, Text):
            for word in _tokens(response):
                yield chunk({"content": word}), True
            yield chunk({}, response.finish_reason), False
            return
        # Garbled, Truncated, MidStreamError: `after` words, then what goes wrong
        for i in range(response.after):
            yield chunk({"content": _word(i)}), True
        if isinstance(response, Garbled):
            yield '{"id":"chatcmpl-garbled","choices":[{"delta":', False
        elif isinstance(response, MidStreamError):
            yield json.dumps({"error": {"message": response.message, "type": response.type,
                                        "param": response.param, "code": response.code}}), False


# -- the provider ---------------------------------------------------------------------------------

class FakeOpenAIProvider(LoopbackProvider):
    """A ``ThreadingHTTPServer`` on 127.0.0.1 speaking OpenAI's chat-completions wire format.

    ``latency_ms``: wait before each chat answer; ``tokens``: words in the default text answer;
    ``token_delay_ms``: wait between streamed content events (``stream_delay``, in seconds);
    ``api_key``: the only key accepted (default: any); ``record=False`` keeps no request log (only the
    ``/stats`` counters), for long benchmark runs."""

    name = "fake-openai"
    handler = _Handler

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0, tokens: int = 20,
                 token_delay_ms: float = 0, models: tuple[str, ...] = (MODEL,), api_key: str | None = None,
                 record: bool = True) -> None:
        self.latency = latency_ms / 1000
        self.api_key = api_key
        self.tokens = tokens
        self.stream_delay = token_delay_ms / 1000
        self.models = models
        self._ids = itertools.count(1)
        super().__init__(host=host, port=port, record=record)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def reset(self) -> None:
        """Forget queued responses, recorded requests and counters."""
        super().reset()
        with self._lock:
            self._stats = {"requests": 0, "chat_requests": 0, "stream_requests": 0, "model_requests": 0,
                           "embedding_requests": 0,
                           "errors": 0, "last_message_count": 0, "last_roles_tail": [],
                           "max_message_count": 0, "last_request_bytes": 0, "max_request_bytes": 0,
                           "total_request_bytes": 0}

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat-completions requests, oldest first."""
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the embeddings requests, oldest first."""
        return [r["body"] for r in self.requests if r["path"].endswith("/embeddings")]

    def stats(self) -> dict[str, Any]:
        """What ``GET /stats`` answers: request counters (``disconnects`` counts answers the client
        went away from), ``last_message_count``, ``last_roles_tail`` (roles of the last 4 messages of
        the latest chat request), ``max_message_count`` and request sizes in bytes."""
        with self._lock:
            return json.loads(json.dumps({**self._stats, "disconnects": self.disconnects}))

    def sdk_client(self, asynchronous: bool, **options: Any) -> tuple[Any, list[Any]]:
        """An ``openai.OpenAI`` (or ``AsyncOpenAI``) on this fake, without retries; ``options`` go to it."""
        import openai

        options = {"base_url": self.base_url, "api_key": "test-key", "max_retries": 0, **options}
        client = openai.AsyncOpenAI(**options) if asynchronous else openai.OpenAI(**options)
        return client, [client]

    def default_answer(self, body: dict[str, Any]) -> Text | ToolCalls:
        messages = body.get("messages") or []
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        asks_weather = last.get("role") == "user" and "weather" in _text(last.get("content")).lower()
        if body.get("tools") and asks_weather:
            name = (body["tools"][0].get("function") or {}).get("name", "tool")
            return ToolCalls([(name, '{"location":"Paris"}')], fragments=1)
        words = [_word(i) for i in range(self.tokens)]
        return Text("".join(words), chunks=words)

    def text_answer(self, text: str) -> Text:
        return Text(text)

    # internals used by the handler
    def _note(self, request: dict[str, Any], raw: bytes) -> None:
        method, path, body = request["method"], request["path"], request["body"]
        if method == "GET" and path == "/stats":  # not counted itself, so the counters stay meaningful
            return
        super()._note(request, raw)
        with self._lock:
            s = self._stats
            s["requests"] += 1
            s["last_request_bytes"] = len(raw)
            s["max_request_bytes"] = max(s["max_request_bytes"], len(raw))
            s["total_request_bytes"] += len(raw)
            if not _is_chat(method, path):
                return
            s["chat_requests"] += 1
            if isinstance(body, dict):
                messages = body.get("messages") or []
                s["stream_requests"] += bool(body.get("stream"))
                s["last_message_count"] = len(messages)
                s["max_message_count"] = max(s["max_message_count"], len(messages))
                s["last_roles_tail"] = [m.get("role") for m in messages[-4:] if isinstance(m, dict)]

    def _count(self, key: str) -> None:
        with self._lock:
            self._stats[key] += 1

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}{uuid.uuid4().hex[:12]}"


def _is_chat(method: str, path: str) -> bool:
    return method == "POST" and path.endswith("/chat/completions")


def _args(args: str | dict[str, Any]) -> str:
    return args if isinstance(args, str) else json.dumps(args, separators=(",", ":"))


def _tokens(response: Text) -> list[str]:
    return response.chunks if response.chunks is not None else re.findall(r"\s*\S+|\s+$", response.text)


class ScriptedFakeOpenAI(Scripted):
    """The conformance kits' ``scripted_provider`` (``.adapter``, ``.script(*Reply)``, ``.fail``):
    supercompat Replies played by a FakeOpenAIProvider in OpenAI's wire format."""

    failure = Error

    def answer(self, reply: Any) -> Text | ToolCalls:
        if reply.tool_calls:
            return ToolCalls(list(reply.tool_calls))
        return Length(reply.text) if reply.finish_reason == "length" else Text(reply.text)


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m supercompat_openai.testing",
                                     description="A loopback fake OpenAI chat-completions provider.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--token-delay-ms", type=float, default=0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    fake = FakeOpenAIProvider(port=args.port, latency_ms=args.latency_ms, tokens=args.tokens,
                              token_delay_ms=args.token_delay_ms, record=False)
    try:
        fake.start()
        if args.port_file:  # written whole before the port is announced, so readers never see it partial
            with open(args.port_file + ".tmp", "w") as f:
                f.write(str(fake.port))
            os.replace(args.port_file + ".tmp", args.port_file)
        print(f"FAKE_PROVIDER_PORT={fake.port}", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
