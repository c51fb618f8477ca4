"""A loopback fake of the Gemini API (``generateContent``, ``streamGenerateContent?alt=sse``,
``batchEmbedContents``, ``models``), speaking the wire format the google-genai SDK reads, for tests
without a network.

    with FakeGeminiProvider() as fake:
        client = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=fake.base_url))
        fake.script(Text("hello world"), FunctionCalls([("get_weather", {"city": "Paris"})]))
        ...
        assert fake.generate_requests[0]["systemInstruction"] == {...}

It serves ``/v1`` and ``/v1beta`` alike and checks requests the way Gemini does where a translation
bug would show: unknown fields, empty parts, schema keywords Gemini has no field for, function
responses that don't answer the previous function-call turn. It answers those with Gemini's own
400 envelope, so a test fails instead of passing on a request the real service would reject.
Unscripted requests are answered with ``Text("alpha bravo charlie")``.

``batchEmbedContents`` answers with core's hashing embedder's vectors (words, not meaning), refusing
what Gemini refuses (more than 100 texts, an ``outputDimensionality`` a model can't make, fields it
doesn't know, empty texts) and, so that a test shows an embedder cuts its texts, a text of more than
the model's 2,048 tokens (counted with core's cl100k tokenizer). Below a model's full size its vectors
are not normalised, as Google documents of gemini-embedding-001. A scripted :class:`Error`,
``Garbled`` or ``Hang`` is played by an embeddings request too.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from supercompat.testing.loopback import Garbled, Hang, LoopbackHandler, LoopbackProvider, Scripted, Truncated  # noqa: F401 (the shared scenarios, imported from here too)

MODEL = "gemini-2.5-flash"

# -- scripted answers (each is consumed by one generate request) ----------------------------------


@dataclass
class Text:
    """A text answer, streamed as ``chunks`` (default: one per word). ``finish_reason`` is Gemini's
    (``STOP``, ``MAX_TOKENS``, ``SAFETY``, ...); ``usage`` entries replace the computed counts."""

    text: str
    chunks: list[str] | None = None
    finish_reason: str = "STOP"
    usage: dict[str, int] | None = None


@dataclass
class FunctionCalls:
    """Parallel function calls ``(name, args)``, all in one chunk as Gemini sends them, after
    ``text`` (if any). With ``ids=True`` each call carries an ``id`` as newer models send;
    ``thought_signature`` goes on the first call's part, as thinking models send it."""

    calls: list[tuple[str, dict[str, Any]]]
    text: str = ""
    ids: bool = False
    thought_signature: str | None = None
    usage: dict[str, int] | None = None


@dataclass
class PromptBlocked:
    """No candidates at all: the prompt itself was blocked (``promptFeedback.blockReason``)."""

    reason: str = "SAFETY"


@dataclass
class Error:
    """An HTTP error in Gemini's envelope ``{"error": {"code", "message", "status"}}``; ``status``
    defaults to the Google status name that goes with the HTTP code."""

    code: int = 500
    message: str = "An internal error has occurred."
    status: str | None = None
    details: list[dict[str, Any]] | None = None


@dataclass
class MidStreamError:
    """A stream that sends ``after`` words, then ``data: {"error": {...}}`` and ends."""

    code: int = 500
    message: str = "An internal error has occurred."
    after: int = 1


GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
                 501: "NOT_IMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


class Rejected(Exception):
    """A request the real service would refuse: answered with a 400 in Gemini's envelope."""


# -- the provider ---------------------------------------------------------------------------------


class ScriptedFakeGemini(Scripted):
    """The conformance kits' ``scripted_provider`` (``.adapter``, ``.script(*Reply)``, ``.fail``):
    supercompat Replies played by a FakeGeminiProvider in Gemini's wire format."""

    failure = Error

    def answer(self, reply: Any) -> Text | FunctionCalls:
        if reply.tool_calls:
            return FunctionCalls(self.object_calls(reply), text=reply.text)
        return Text(reply.text, finish_reason="MAX_TOKENS" if reply.finish_reason == "length" else "STOP")


# -- request checks: what the real service refuses --------------------------------------------------

TOP_LEVEL = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings",
             "cachedContent", "labels", "serviceTier"}
PART_DATA = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
             "codeExecutionResult"}
PART_EXTRA = {"thought", "thoughtSignature", "videoMetadata", "mediaResolution"}
GENERATION = {"temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences",
              "responseMimeType", "responseSchema", "responseJsonSchema", "presencePenalty", "frequencyPenalty",
              "seed", "responseLogprobs", "logprobs", "thinkingConfig", "responseModalities", "mediaResolution",
              "speechConfig", "imageConfig", "enableEnhancedCivicAnswers"}
SCHEMA = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
          "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
          "propertyOrdering", "default", "items", "minimum", "maximum"}
TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
MODES = {"AUTO", "ANY", "NONE", "VALIDATED"}


def _camel(name: str) -> str:
    """Gemini reads field names in either spelling (proto JSON): ``mime_type`` is ``mimeType``."""
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _field(data: dict[str, Any], name: str) -> Any:
    return next((v for k, v in data.items() if _camel(k) == name), None)


def _unknown(name: str, where: str) -> Rejected:
    return Rejected(f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field.")


# The image types Gemini takes (no GIF), and what a request may be, base64 of inline data included.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
MAX_REQUEST_BYTES = 20 * 1024 * 1024


def _inline_bytes(body: dict[str, Any]) -> int:
    """The base64 of the request's inline data, in bytes."""
    total = 0
    for content in body.get("contents") or ():
        for part in (content.get("parts") or ()) if isinstance(content, dict) else ():
            inline = _field(part, "inlineData") if isinstance(part, dict) else None
            if isinstance(inline, dict) and isinstance(inline.get("data"), str):
                total += len(inline["data"])
    return total


def check_request(body: Any) -> None:
    """Raise :class:`Rejected` with Gemini's wording for what the real API would refuse."""
    if not isinstance(body, dict):
        raise Rejected("Invalid JSON payload received.")
    if _inline_bytes(body) > MAX_REQUEST_BYTES:  # the size of the request, as far as images count
        raise Rejected(f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes.")
    for key in body:
        if _camel(key) not in TOP_LEVEL:
            raise _unknown(key, "")
    contents = body.get("contents")
    if not contents:
        raise Rejected("* GenerateContentRequest.contents: contents is not specified\n")
    previous: dict[str, Any] | None = None
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if content.get("role") not in ("user", "model"):
            raise Rejected(f"Please use a valid role: user, model. ({where})")
        _check_parts(content.get("parts"), where)
        _check_turn(content, previous, where)
        previous = content
    system = body.get("systemInstruction")
    if system is not None:
        _check_parts(system.get("parts"), "system_instruction")
        if any("text" not in p for p in system["parts"]):
            raise Rejected("system_instruction: only text parts are supported.")
    declared: set[str] = set()
    for t, tool in enumerate(body.get("tools") or []):
        for d, declaration in enumerate(tool.get("functionDeclarations") or []):
            where = f"tools[{t}].function_declarations[{d}]"
            name = declaration.get("name") or ""
            if not FUNCTION_NAME.fullmatch(name):
                raise Rejected(f"* GenerateContentRequest.{where}.name: Invalid function name. Must start with a "
                               "letter or an underscore. Must be a-z, A-Z, 0-9, or contain underscores, dots, "
                               "colons and dashes, with a maximum length of 64.\n")
            declared.add(name)
            for key in declaration:
                if _camel(key) not in {"name", "description", "parameters", "parametersJsonSchema", "response",
                                       "responseJsonSchema", "behavior"}:
                    raise _unknown(key, where)
            if "parameters" in declaration:
                _check_schema(declaration["parameters"], f"{where}.parameters", top=True)
    mode_config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if mode_config:
        if mode_config.get("mode", "AUTO") not in MODES:
            raise Rejected(f"Invalid value at 'tool_config.function_calling_config.mode' ({mode_config['mode']})")
        names = mode_config.get("allowedFunctionNames")
        if names and mode_config.get("mode") != "ANY":
            raise Rejected("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
                           "allowed_function_names is only allowed when mode is ANY.\n")
        for name in names or ():
            if name not in declared:
                raise Rejected(f"* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names"
                               f": {name} is not a declared function.\n")
    config = body.get("generationConfig") or {}
    for key in config:
        if _camel(key) not in GENERATION:
            raise _unknown(key, "generation_config")
    if len(config.get("stopSequences") or ()) > 5:
        raise Rejected("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences.\n")
    if "responseSchema" in config:
        if config.get("responseMimeType") != "application/json":
            raise Rejected("* GenerateContentRequest.generation_config.response_schema: only supported when "
                           "response_mime_type is application/json.\n")
        _check_schema(config["responseSchema"], "generation_config.response_schema")


def _is_base64(data: Any) -> bool:
    """Bytes in JSON as protobuf reads them: base64, standard or URL-safe, padded or not."""
    if not isinstance(data, str):
        return False
    try:
        base64.urlsafe_b64decode(data.replace("+", "-").replace("/", "_") + "=" * (-len(data) % 4))
    except ValueError:
        return False
    return re.fullmatch(r"[A-Za-z0-9+/_-]*={0,2}", data) is not None


def _check_parts(parts: Any, where: str) -> None:
    if not parts:
        raise Rejected(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.\n")
    for j, part in enumerate(parts):
        data = [k for k in part if _camel(k) in PART_DATA]
        for key in part:
            if _camel(key) not in PART_DATA | PART_EXTRA:
                raise _unknown(key, f"{where}.parts[{j}]")
        if len(data) != 1:
            raise Rejected(f"* GenerateContentRequest.{where}.parts[{j}].data: required oneof field 'data' must "
                           "have one initialized field\n")
        inline, file = _field(part, "inlineData"), _field(part, "fileData")
        if inline is not None and not (_field(inline, "mimeType") and inline.get("data")):
            raise Rejected(f"* GenerateContentRequest.{where}.parts[{j}].inline_data: mime_type and data are "
                           "required.\n")
        if inline is not None and not _is_base64(inline["data"]):
            raise Rejected(f"Invalid value at '{where}.parts[{j}].inline_data.data' (TYPE_BYTES), Base64 "
                           "decoding failed")
        for given in (inline, file):
            mime = str(_field(given, "mimeType") or "") if given is not None else ""
            if mime.startswith("image/") and mime not in IMAGE_TYPES:
                raise Rejected(f"Unsupported MIME type: {mime}")
        if file is not None and not _field(file, "fileUri"):
            raise Rejected(f"* GenerateContentRequest.{where}.parts[{j}].file_data.file_uri: file_uri is required.\n")
        if "functionResponse" in part and not isinstance(part["functionResponse"].get("response"), dict):
            raise Rejected(f"* GenerateContentRequest.{where}.parts[{j}].function_response.response: "
                           "must be an object.\n")


def _check_turn(content: dict[str, Any], previous: dict[str, Any] | None, where: str) -> None:
    calls = [p["functionCall"] for p in (previous or {}).get("parts") or () if "functionCall" in p]
    answers = [p["functionResponse"] for p in content["parts"] if "functionResponse" in p]
    if any("functionCall" in p for p in content["parts"]):
        if previous is None or previous["role"] != "user":
            raise Rejected("Please ensure that function call turn comes immediately after a user turn or after a "
                           "function response turn.")
    if answers or calls:
        if len(answers) != len(calls):
            raise Rejected("Please ensure that the number of function response parts is equal to the number of "
                           "function call parts of the function call turn.")
        if sorted(a.get("name") for a in answers) != sorted(c.get("name") for c in calls):
            raise Rejected(f"{where}: function response names do not match the function call turn.")
        call_ids = sorted(c["id"] for c in calls if c.get("id"))
        if call_ids and sorted(a.get("id") or "" for a in answers) != call_ids:
            raise Rejected(f"{where}: function response ids do not match the function call ids.")


def _check_schema(schema: Any, where: str, top: bool = False) -> None:
    if not isinstance(schema, dict):
        raise Rejected(f"Invalid value at '{where}': a schema is an object.")
    for key in schema:
        if _camel(key) not in SCHEMA:
            raise _unknown(key, where)
    kind = schema.get("type")
    if kind is not None and str(kind).upper() not in TYPES:
        raise Rejected(f"Invalid value at '{where}.type' (type.googleapis.com/google.ai.generativelanguage.v1.Type), "
                       f"\"{kind}\"")
    if str(kind).upper() == "OBJECT" and top and not schema.get("properties"):
        raise Rejected(f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type\n")
    if any(not isinstance(v, str) for v in schema.get("enum") or ()):
        raise Rejected(f"Invalid value at '{where}.enum': enum values must be strings.")
    for name, sub in (schema.get("properties") or {}).items():
        _check_schema(sub, f"{where}.properties[{name}].value")
    if "items" in schema:
        _check_schema(schema["items"], f"{where}.items")
    for k, sub in enumerate(schema.get("anyOf") or ()):
        _check_schema(sub, f"{where}.any_of[{k}]")


# -- answers ---------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return re.findall(r"\s*\S+|\s+$", text)


def _prompt_tokens(body: dict[str, Any]) -> int:
    return len(json.dumps(body.get("contents") or [])) // 16 + 1


def _usage(body: dict[str, Any], output: int, overrides: dict[str, int] | None) -> dict[str, int]:
    usage = {"promptTokenCount": _prompt_tokens(body), "candidatesTokenCount": output}
    usage.update(overrides or {})
    usage["totalTokenCount"] = sum(v for k, v in usage.items() if k != "totalTokenCount")
    return usage


def _chunks(body: dict[str, Any], answer: Any, model: str) -> list[dict[str, Any]]:
    """The GenerateContentResponse objects of one answer, in stream order (a non-streaming
    answer is their merge)."""
    base = {"modelVersion": model, "responseId": uuid.uuid4().hex[:20]}

    def chunk(parts: list[dict[str, Any]] | None, finish: str | None, usage: dict[str, int]) -> dict[str, Any]:
        candidate: dict[str, Any] = {"index": 0}
        if parts:
            candidate["content"] = {"parts": parts, "role": "model"}
        if finish:
            candidate["finishReason"] = finish
            if finish == "SAFETY":
                candidate["safetyRatings"] = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH",
                                               "blocked": True}]
        return {"candidates": [candidate], "usageMetadata": usage, **base}

    if isinstance(answer, PromptBlocked):
        usage = {"promptTokenCount": _prompt_tokens(body), "totalTokenCount": _prompt_tokens(body)}
        return [{"promptFeedback": {"blockReason": answer.reason}, "usageMetadata": usage, **base}]
    prompt_only = {"promptTokenCount": _prompt_tokens(body), "totalTokenCount": _prompt_tokens(body)}
    if isinstance(answer, FunctionCalls):
        out = [chunk([{"text": w}], None, prompt_only) for w in _words(answer.text)]
        parts = []
        for i, (name, args) in enumerate(answer.calls):
            call: dict[str, Any] = {"name": name, "args": args}
            if answer.ids:
                call["id"] = uuid.uuid4().hex[:8]
            part: dict[str, Any] = {"functionCall": call}
            if i == 0 and answer.thought_signature:
                part["thoughtSignature"] = answer.thought_signature
            parts.append(part)
        spent = len(_words(answer.text)) + 7 * len(parts)
        return [*out, chunk(parts, "STOP", _usage(body, spent, answer.usage))]
    pieces = answer.chunks if answer.chunks is not None else _words(answer.text)
    if not pieces:
        return [chunk(None, answer.finish_reason, _usage(body, 0, answer.usage))]
    out = [chunk([{"text": p}], None, prompt_only) for p in pieces[:-1]]
    return [*out, chunk([{"text": pieces[-1]}], answer.finish_reason, _usage(body, len(pieces), answer.usage))]


def _merged(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    last = dict(chunks[-1])
    if "candidates" not in last:
        return last
    parts: list[dict[str, Any]] = []
    for c in chunks:
        for part in (c["candidates"][0].get("content") or {}).get("parts") or ():
            if "text" in part and parts and "text" in parts[-1]:
                parts[-1] = {"text": parts[-1]["text"] + part["text"]}
            else:
                parts.append(part)
    candidate = {**last["candidates"][0]}
    if parts:
        candidate["content"] = {"parts": parts, "role": "model"}
    last["candidates"] = [candidate]
    return last


# -- HTTP plumbing ---------------------------------------------------------------------------------

def _generates(method: str, path: str) -> bool:
    return method == "POST" and path.split("?")[0].endswith(("generateContent", "GenerateContent"))


def _embeds(method: str, path: str) -> bool:
    return method == "POST" and path.split("?")[0].endswith(":batchEmbedContents")


# -- embeddings ------------------------------------------------------------------------------------

# The size of the vectors of Google's embedding models (other models the fake serves: 256), and the
# smallest outputDimensionality they take.
EMBEDDING_MODELS = {"gemini-embedding-001": (3072, 128), "text-embedding-004": (768, 1)}
EMBEDDING_MAX_TOKENS = 2048
EMBEDDING_MAX_BATCH = 100
EMBED_REQUEST = {"model", "content", "taskType", "title", "outputDimensionality"}
TASK_TYPES = {"TASK_TYPE_UNSPECIFIED", "RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT", "SEMANTIC_SIMILARITY",
              "CLASSIFICATION", "CLUSTERING", "QUESTION_ANSWERING", "FACT_VERIFICATION",
              "CODE_RETRIEVAL_QUERY"}


def embed_texts(body: Any, model: str) -> tuple[list[str], int]:
    """The texts of a batchEmbedContents request and the size of their vectors; :class:`Rejected`
    with Gemini's wording for what it would refuse."""
    from supercompat.ingest import count_tokens

    if not isinstance(body, dict):
        raise Rejected("Invalid JSON payload received.")
    for key in body:
        if _camel(key) != "requests":
            raise _unknown(key, "")
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise Rejected("* BatchEmbedContentsRequest.requests: requests is not specified\n")
    if len(requests) > EMBEDDING_MAX_BATCH:
        raise Rejected(f"* BatchEmbedContentsRequest.requests: at most {EMBEDDING_MAX_BATCH} requests can "
                       "be in one batch\n")
    native, smallest = EMBEDDING_MODELS.get(model, (256, 1))
    sizes, texts = set(), []
    for i, request in enumerate(requests):
        where = f"requests[{i}]"
        for key in request:
            if _camel(key) not in EMBED_REQUEST:
                raise _unknown(key, where)
        if _field(request, "model") != f"models/{model}":
            raise Rejected(f"* BatchEmbedContentsRequest.{where}.model: the model must be the batch's "
                           f"(models/{model})\n")
        task = _field(request, "taskType")
        if task is not None and task not in TASK_TYPES:
            raise Rejected(f"Invalid value at '{where}.task_type' (type.googleapis.com/"
                           f"google.ai.generativelanguage.v1beta.TaskType), \"{task}\"")
        dimensions = _field(request, "outputDimensionality")
        if dimensions is not None and not (isinstance(dimensions, int) and smallest <= dimensions <= native):
            raise Rejected(f"* BatchEmbedContentsRequest.{where}.output_dimensionality: must be between "
                           f"{smallest} and {native} for models/{model}\n")
        sizes.add(dimensions or native)
        parts = (request.get("content") or {}).get("parts") or ()
        text = "".join(part.get("text") or "" for part in parts if isinstance(part, dict))
        if not text:
            raise Rejected(f"* BatchEmbedContentsRequest.{where}.content.parts: contents must not be empty\n")
        tokens = count_tokens(text)
        if tokens > EMBEDDING_MAX_TOKENS:
            raise Rejected(f"* BatchEmbedContentsRequest.{where}.content: the input of {tokens} tokens is "
                           f"over the model's limit of {EMBEDDING_MAX_TOKENS} tokens\n")
        texts.append(text)
    if len(sizes) > 1:
        raise Rejected("* BatchEmbedContentsRequest.requests: all requests must ask for the same "
                       "output_dimensionality\n")
    return texts, sizes.pop()


def embed_vectors(texts: list[str], dimensions: int, native: int) -> list[list[float]]:
    """Core's hashing vectors; below the model's full size, scaled by a factor that depends on the text
    (not normalised, as gemini-embedding-001's are not)."""
    from supercompat.embedders import hashing_embedder

    embedder = hashing_embedder(dimensions)
    scales = [1.0 if dimensions == native else 0.5 + len(text) % 7 for text in texts]
    return [[x * scale for x in embedder.vector(text)] for text, scale in zip(texts, scales, strict=True)]


JSON = "application/json; charset=UTF-8"
ROUTE = re.compile(r"/(v1|v1beta)/(models(?:/(?P<model>[^:/?]+))?(?::(?P<method>\w+))?)")


class _Handler(LoopbackHandler):
    fake: FakeGeminiProvider

    def _error(self, code: int, message: str, status: str | None = None,
               details: list[dict[str, Any]] | None = None) -> None:
        status = status or GOOGLE_STATUS.get(code, "UNKNOWN")
        error: dict[str, Any] = {"code": code, "message": message, "status": status}
        if details:
            error["details"] = details
        self.send_json(code, {"error": error}, content_type=JSON)

    def route(self, request: dict[str, Any]) -> None:
        fake = self.fake
        method, headers, body = request["method"], request["headers"], request["body"]
        scripted = _generates(method, self.path) or _embeds(method, self.path)
        answer = fake.next_answer() if scripted else None  # taken even if refused
        path, _, query = self.path.partition("?")
        match = ROUTE.fullmatch(path)
        if not match:
            return self._error(404, f"Requested URL {path} was not found on this server.")
        key = headers.get("x-goog-api-key")
        if not key:
            return self._error(403, "Method doesn't allow unregistered callers (callers without established "
                               "identity). Please use API Key or other form of API consumer identity to call "
                               "this API.")
        if fake.api_key is not None and key != fake.api_key:
            return self._error(400, "API key not valid. Please pass a valid API key.", details=[
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com"}])
        model, rpc = match["model"], match["method"]
        if method == "GET" and rpc is None:
            if model is None:
                models = {"models": [self._model(m) for m in fake.models]}
                return self.send_json(200, models, content_type=JSON)
            if model in fake.models:
                return self.send_json(200, self._model(model), content_type=JSON)
            return self._error(404, f"models/{model} is not found for API version {match[1]}.")
        if method == "POST" and model is not None and rpc == "batchEmbedContents":
            return self._embed(model, match[1], body, answer)
        if method != "POST" or model is None or rpc not in ("generateContent", "streamGenerateContent"):
            return self._error(404, f"Requested URL {path} was not found on this server.")
        if model not in fake.models:
            return self._error(404, f"models/{model} is not found for API version {match[1]}, or is not supported "
                               "for generateContent. Call ListModels to see the list of available models.")
        stream = rpc == "streamGenerateContent"
        if stream and "alt=sse" not in query.split("&"):
            return self._error(400, "This fake serves streams as server-sent events only: add alt=sse.")
        try:
            check_request(body)
        except Rejected as exc:
            return self._error(400, str(exc))
        answer = fake.settle(answer, body)
        if isinstance(answer, Error):
            return self._error(answer.code, answer.message, answer.status, answer.details)
        if isinstance(answer, MidStreamError):
            if not stream:
                return self._error(answer.code, answer.message)
            events = [c for c in _chunks(body, Text("alpha bravo charlie delta"), model)[:answer.after]]
            events.append({"error": {"code": answer.code, "message": answer.message,
                                     "status": GOOGLE_STATUS.get(answer.code, "UNKNOWN")}})
            return self._sse(events)
        if isinstance(answer, Garbled):
            if not stream:
                return self.send(200, b'{"candidates":[{', content_type=JSON)
            return self._sse([*_chunks(body, Text("alpha bravo"), model)[:1], '{"candidates":[{'])
        if isinstance(answer, Truncated):
            return self._sse(_chunks(body, Text("alpha bravo charlie delta"), model)[:answer.after])
        chunks = _chunks(body, answer, model)
        if stream:
            return self._sse(chunks)
        return self.send_json(200, _merged(chunks), content_type=JSON)

    def _embed(self, model: str, version: str, body: Any, answer: Any) -> None:
        if model not in self.fake.models and model not in EMBEDDING_MODELS:
            return self._error(404, f"models/{model} is not found for API version {version}, or is not "
                               "supported for embedContent. Call ListModels to see the list of available "
                               "models.")
        try:
            texts, dimensions = embed_texts(body, model)
        except Rejected as exc:
            return self._error(400, str(exc))
        if isinstance(answer, Hang):
            self.fake.pause(answer.seconds)
            answer = answer.then
        if isinstance(answer, Error):
            return self._error(answer.code, answer.message, answer.status, answer.details)
        if isinstance(answer, Garbled):
            return self.send(200, b'{"embeddings":[{', content_type=JSON)
        native = EMBEDDING_MODELS.get(model, (256, 1))[0]
        vectors = embed_vectors(texts, dimensions, native)
        self.send_json(200, {"embeddings": [{"values": vector} for vector in vectors]}, content_type=JSON)

    def _sse(self, events: list[Any]) -> None:
        fake = self.fake
        self.start_stream("text/event-stream")
        for i, event in enumerate(events):  # exactly "data: <json>" and a blank line; no event:, no [DONE]
            if i:
                fake.between_pieces()
            data = event if isinstance(event, str) else json.dumps(event)  # a str: garbled on purpose
            self.send_chunk(f"data: {data}\r\n\r\n".encode())
        self.end_stream()

    @staticmethod
    def _model(model: str) -> dict[str, Any]:
        return {"name": f"models/{model}", "version": "001", "displayName": model, "inputTokenLimit": 1048576,
                "outputTokenLimit": 65536,
                "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent"]}


class FakeGeminiProvider(LoopbackProvider):
    """A ``ThreadingHTTPServer`` on 127.0.0.1. ``api_key``: when set, requests must send it in
    ``x-goog-api-key`` (a wrong key gets Gemini's ``API_KEY_INVALID`` 400); ``chunk_delay_ms``: the
    wait between streamed events (``stream_delay``, in seconds). ``disconnects`` counts streams the
    client left before their end."""

    name = "fake-gemini"
    handler = _Handler
    keep_query = True

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, models: tuple[str, ...] = (MODEL,),
                 api_key: str | None = None, chunk_delay_ms: float = 0) -> None:
        super().__init__(host=host, port=port)
        self.models, self.api_key = models, api_key
        self.stream_delay = chunk_delay_ms / 1000

    @property
    def base_url(self) -> str:
        """For ``HttpOptions(base_url=...)``: the SDK adds ``/v1`` (or its ``api_version``) itself."""
        return self.url

    @property
    def generate_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the generateContent / streamGenerateContent requests, oldest first
        (``requests`` keep their paths' query)."""
        return [r["body"] for r in self.requests if _generates(r["method"], r["path"])]

    @property
    def embed_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the batchEmbedContents requests, oldest first."""
        return [r["body"] for r in self.requests if _embeds(r["method"], r["path"])]

    def default_answer(self, body: Any) -> Text:
        return Text("alpha bravo charlie")

    def text_answer(self, text: str) -> Text:
        return Text(text)

    def sdk_client(self, asynchronous: bool, **http_options: Any) -> tuple[Any, list[Any]]:
        """A ``genai.Client`` on this fake (its ``.aio`` when asynchronous); ``http_options`` go to its
        ``HttpOptions``."""
        from google import genai
        from google.genai import types

        client = genai.Client(api_key="test-key", http_options=types.HttpOptions(**{"base_url": self.url,
                                                                                    **http_options}))
        return (client.aio if asynchronous else client), [client.aio, client]
