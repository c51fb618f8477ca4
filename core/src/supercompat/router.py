"""Routing and request/response plumbing shared by the in-process transport and the HTTP server.

Handlers are ``async def handler(app, request) -> dict | Response``; a dict is sent as JSON with
status 200. Any :class:`~supercompat.errors.APIError` becomes OpenAI's error envelope; anything else
is our bug and becomes a 500 in the same envelope, with the traceback logged.
"""

from __future__ import annotations

import builtins
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .errors import APIError, InvalidRequest, MethodNotAllowed, NotFound, ServerError
from .forms import Form, Multipart, parse_form, too_large
from .ids import random_base62

if TYPE_CHECKING:
    from .app import App
    from .runs import StreamEvent

log = logging.getLogger("supercompat")

Handler = Callable[["App", "Request"], Awaitable[Any]]  # a dict (sent as JSON) or a Response


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# Deeper than this, a body is refused: what is stored must read back everywhere, and a stored field is at
# most the body's depth less one, which MariaDB's JSON check (31 levels at most) still takes. A tool's
# parameters schema gets 28 levels of its own under it, a response_format schema 29.
MAX_JSON_DEPTH = 32
# Possessive (*+): nothing to backtrack into, so no state is kept per escape (else a 16 MiB string of
# escapes cost a gigabyte).
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.S)
_JSON_TOKEN = re.compile(_JSON_STRING.pattern + rb'|[\[\]{}:,]', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")
# Escapes that can make a string no storage or encoder takes: a surrogate (maybe lone) or NUL.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")


class _NonFinite(float):
    """NaN, Infinity or a number beyond a double, which Python's json accepts and standard JSON has not."""

    text = ""


def parse_json_body(body: bytes | bytearray) -> Any:
    """The body as JSON, strictly: anything json.loads takes that would not serialize back as standard
    JSON, or not be storable, is a 400 naming the offending param. Parsed once, for every endpoint."""
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _deeper_than_allowed(body):
        deep = _too_deep(body)
        if deep is not None:
            raise InvalidRequest(f"Invalid '{deep}': nested too deeply. Expected at most {MAX_JSON_DEPTH} "
                                 f"levels of nested objects and arrays.", param=deep, code="invalid_value")
    non_finite = False

    def constant(text: str) -> float:
        nonlocal non_finite
        non_finite = True
        number = _NonFinite(text)
        number.text = text
        return number

    def decimal(text: str) -> float:
        value = float(text)
        return value if math.isfinite(value) else constant(text)

    try:
        # UTF-8 only, as OpenAI takes it: json.loads would also guess UTF-16 and UTF-32, whose surrogates
        # and NULs need no escape that the check below looks for.
        value = json.loads(body.decode("utf-8-sig"), parse_constant=constant, parse_float=decimal)
    except RecursionError:  # in text the scans above could not follow; never let depth be a 500
        raise InvalidRequest(f"The request body is nested too deeply. Expected at most {MAX_JSON_DEPTH} "
                             f"levels of nested objects and arrays.", code="invalid_value") from None
    if non_finite or _SUSPECT_ESCAPE.search(body):
        _check_values(value)
    return value


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _param_part(key: str) -> str:
    """A key as it may appear in an error message: encodable, and without the NUL or other control
    characters that the message may be refusing."""
    key = key.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", key)


def _deeper_than_allowed(body: bytes | bytearray) -> bool:
    """Whether the body nests deeper than MAX_JSON_DEPTH, at C speed: with strings and everything but
    brackets gone, each pass removes the innermost level."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    for _ in range(MAX_JSON_DEPTH):
        brackets, removed = _INNERMOST.subn(b"", brackets)
        if not brackets or not removed:
            return False  # all levels gone, or not JSON (json.loads says so)
    return True


def _too_deep(body: bytes | bytearray) -> str | None:
    """The param of the first object or array nested deeper than MAX_JSON_DEPTH, found by scanning
    tokens, so that no recursive parser ever sees it."""
    stack: list[list[Any]] = []  # per open container: [is_object, current key or index]
    last_string = b""
    for match in _JSON_TOKEN.finditer(body):
        token = match.group()
        kind = token[:1]
        if kind == b'"':
            last_string = token
        elif kind in (b"{", b"["):
            if len(stack) >= MAX_JSON_DEPTH:
                return _path(stack)
            stack.append([kind == b"{", None if kind == b"{" else 0])
        elif kind in (b"}", b"]"):
            if not stack:
                return None  # not JSON: json.loads says so
            stack.pop()
        elif stack and kind == b":" and stack[-1][0]:
            try:
                stack[-1][1] = json.loads(last_string)
            except ValueError:
                stack[-1][1] = last_string.decode("utf-8", "replace").strip('"')
        elif stack and kind == b"," and not stack[-1][0]:
            stack[-1][1] += 1
    return None


def _path(stack: list[list[Any]]) -> str:
    """``tools[0].function.parameters`` for the containers open on ``stack``."""
    path = ""
    for is_object, at in stack:
        if is_object:
            path += f".{_param_part(str(at))}" if path else _param_part(str(at))
        else:
            path += f"[{at}]"
    return path


def _check_values(root: Any) -> None:
    """Refuse NaN and infinite numbers, lone surrogates and NUL, in keys and values alike."""
    todo: list[tuple[Any, str]] = [(root, "")]
    while todo:
        value, param = todo.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{param}.{_param_part(key)}" if param else _param_part(key)
                _check_text(key, child)
                todo.append((item, child))
        elif isinstance(value, list):
            todo.extend((item, f"{param}[{i}]") for i, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, param)
        elif isinstance(value, _NonFinite):
            raise InvalidRequest(f"Invalid '{param}': expected a finite number, but got {value.text} instead.",
                                 param=param or None, code="invalid_value")


def _check_text(text: str, param: str) -> None:
    if "\x00" in text:
        raise InvalidRequest(f"Invalid '{param}': strings can't contain the NUL character (\\u0000).",
                             param=param or None, code="invalid_value")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidRequest(f"Invalid '{param}': the string has a lone UTF-16 surrogate at position "
                                 f"{e.start}, which is not a Unicode character.", param=param or None,
                                 code="invalid_value") from None


def check_content_type(request: Request, body: Multipart | None = None) -> None:
    """A body must be of the type its route takes (``body``: JSON when None, else
    ``multipart/form-data``), in process as over HTTP. A request without a body needs no type:
    openai-node sends none with a cancel or a DELETE."""
    if not request.body and request._form is None:
        return
    kind = request.headers.get("content-type", "")
    refuse_content_type(kind, body)


def refuse_content_type(kind: str, body: Multipart | None) -> None:
    """The 400 ``unsupported_content_type`` unless ``kind`` (a Content-Type header) is what ``body`` takes."""
    wanted = "application/json" if body is None else "multipart/form-data"
    if kind.partition(";")[0].strip().lower() != wanted:
        raise InvalidRequest(f"Unsupported content type: {kind!r}. This API method only accepts "
                             f"'{wanted}' requests, but you specified the header "
                             f"'Content-Type: {kind}'. Please try again with a supported content type.",
                             code="unsupported_content_type")


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query_string: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | bytearray = b""
    params: dict[str, str] = field(default_factory=dict)
    # The project of the API key that made the request (server with keys); None in process.
    project: str | None = None
    _json: Any = None
    _query: dict[str, list[str]] | None = None
    # The multipart/form-data body, parsed as it arrived (transport, server) or by the router.
    _form: Form | None = None

    def json(self) -> dict[str, Any]:
        """The JSON object body; an empty body reads as ``{}``."""
        if self._json is None:
            if not self.body or self.body.isspace():  # strip() would copy a body of any size
                self._json = {}
            else:
                try:
                    self._json = parse_json_body(self.body)
                except (ValueError, UnicodeDecodeError):
                    raise InvalidRequest(
                        "We could not parse the JSON body of your request. (HINT: This likely means you "
                        "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
                        "but what was sent was not valid JSON.)"
                    ) from None
                if not isinstance(self._json, dict):
                    raise InvalidRequest("The request body must be a JSON object.")
        return self._json

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            q: dict[str, list[str]] = {}
            for k, v in parse_qsl(self.query_string, keep_blank_values=True):
                q.setdefault(k, []).append(v)
            self._query = q
        return self._query

    def query_array(self, name: str) -> list[str]:
        """A query parameter sent as an array: ``include[]=a&include[]=b`` as the openai SDKs send it
        (``include=a`` too), in order: ``["a", "b"]``."""
        query = self.query
        return [*query.get(name + "[]", ()), *query.get(name, ())]

    def form(self) -> Form:
        """The ``multipart/form-data`` body of a route declared with ``body=Multipart(...)``: its
        fields, and its files spooled to memory or a temporary file. The files are removed when the
        handler returns: move or copy what is kept (``UploadedFile.move_to``, ``chunks``)."""
        if self._form is None:
            raise RuntimeError("request.form() is for routes added with body=Multipart(...)")
        return self._form

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def close(self) -> None:
        """Remove the request's uploaded files (the request is over)."""
        if self._form is not None:
            self._form.close()


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
        return cls(status, dumps(obj), [("content-type", "application/json"), *(headers or [])])

    @classmethod
    def error(cls, err: APIError) -> Response:
        return cls.json(err.body(), err.status, [("x-should-retry", "false"), *err.headers])

    @classmethod
    def bytes(cls, data: bytes, content_type: str = "application/octet-stream",
              headers: list[tuple[str, str]] | None = None, status: int = 200) -> Response:
        """A binary body (a file's content, say), sent with its length."""
        return cls(status, data, [("content-type", content_type), *(headers or [])])

    @classmethod
    def byte_stream(cls, chunks: AsyncIterator[builtins.bytes], content_type: str = "application/octet-stream",
                    length: int | None = None, headers: list[tuple[str, str]] | None = None) -> Response:
        """A binary body sent chunk by chunk as ``chunks`` yields them (a file read from a blob store),
        with its ``content-length`` when known. An error once it has started can't change the status:
        the connection is cut short (the client sees a read error), and the error logged."""
        sized = [("content-length", str(length))] if length is not None else []
        return cls(200, b"", [("content-type", content_type), *sized, *(headers or [])], chunks)

    @classmethod
    def event_stream(cls, events: AsyncIterator[builtins.bytes], named_events: bool = True) -> Response:
        """SSE. ``named_events``: the Assistants streams' ``event:`` lines; chat completions send
        ``data:`` lines only, and so does their error frame."""
        return cls(200, b"", _SSE_HEADERS[:], _guard_stream(events, named_events))

    @classmethod
    def run_stream(cls, events: AsyncIterator[StreamEvent]) -> Response:
        """The Assistants SSE of a run's events as the engine publishes them: each event framed once
        (:func:`frame`), then ``done``."""
        return cls(200, b"", _SSE_HEADERS[:], _guard_stream(events, True, frame))


_SSE_HEADERS = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]


def sse(event: str, data: Any) -> bytes:
    """One named SSE event: ``event:`` and ``data:`` (the JSON of ``data``) lines."""
    return b"event: " + event.encode() + b"\ndata: " + dumps(data) + b"\n\n"


SSE_DONE = b"event: done\ndata: [DONE]\n\n"


def frame(published: StreamEvent) -> bytes:
    """The SSE of a run's event, made by the first stream that sends it and kept on it for the
    others (``StreamEvent.wire``)."""
    wire = published.wire
    if wire is None:
        wire = published.wire = sse(published.event, published.data)
    return wire


async def _guard_stream(events: AsyncIterator[Any], named_events: bool,
                        encode: Callable[[Any], bytes] | None = None) -> AsyncIterator[bytes]:
    """``events`` as they come (``encode``d, and then ``done``, for a run's stream). Once the headers
    are out a failure can't change the status: report it as an error frame that every openai SDK
    stream path raises as ``openai.APIError``, then end the stream cleanly."""
    prefix = b"event: error\n" if named_events else b""
    try:
        if encode is None:
            async for chunk in events:
                yield chunk
        else:
            async for event in events:
                yield encode(event)
            yield SSE_DONE
    except APIError as e:
        log_server_error(e, "an event stream")
        yield prefix + b"data: " + dumps(e.body()) + b"\n\n"
    except Exception:
        log.exception("supercompat: error while streaming")
        yield prefix + b"data: " + dumps(internal_error().body()) + b"\n\n"


def log_server_error(err: APIError, where: str) -> None:
    """A 5xx the client sees in few words (no URL, no file): the log says where and why (``str()``)."""
    if err.status >= 500:
        log.warning("supercompat: %s answered %d: %s", where, err.status, err)


def internal_error() -> ServerError:
    return ServerError("The server had an error while processing your request. Sorry about that!")


class Router:
    """Paths are matched segment by segment; a literal segment wins over a ``{param}``."""

    def __init__(self) -> None:
        # per number of segments: (segments, {method: (handler, body)})
        self._routes: dict[int, list[tuple[tuple[str, ...], dict[str, tuple[Handler, Multipart | None]]]]] = {}

    def add(self, method: str, pattern: str, handler: Handler, body: Multipart | None = None) -> None:
        """Route ``method pattern`` to ``handler``. ``body``: what the route takes, a JSON object (None,
        ``request.json()``) or a form (``Multipart(...)`` with its limits, ``request.form()``)."""
        segments = tuple(s for s in pattern.split("/") if s)
        routes = self._routes.setdefault(len(segments), [])
        for existing, methods in routes:
            if existing == segments:
                methods[method] = (handler, body)
                return
        routes.append((segments, {method: (handler, body)}))
        # Literal segments first, so /threads/runs is tried before /threads/{thread_id}.
        routes.sort(key=lambda r: tuple(s.startswith("{") for s in r[0]))

    def route(self, method: str, pattern: str, body: Multipart | None = None) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            self.add(method, pattern, handler, body)
            return handler
        return decorator

    def copy(self) -> Router:
        """A router with the same routes, to which more can be added without touching this one."""
        other = Router()
        other._routes = {n: [(segments, dict(methods)) for segments, methods in routes]
                         for n, routes in self._routes.items()}
        return other

    def body_of(self, method: str, path: str) -> Multipart | None:
        """What the route of ``method path`` takes (None: JSON, or no such route), for the transport and
        the server to read a form as it arrives."""
        try:
            return self.find(method, path)[2]
        except (NotFound, MethodNotAllowed):
            return None

    def form_limits(self, method: str, path: str, headers: Mapping[str, str]) -> Multipart | None:
        """For a body about to be read, by the transport or the server: the limits of its route's form
        (parse it as it arrives), or None (read it whole: JSON). A type the route doesn't take, or a
        declared length over its limit, is refused here, before any of the body is read. JSON, the hot
        path, is let through without a route lookup: a form route refuses it once read. So is a body
        without a type: it may turn out empty, which needs none (``check_content_type`` decides)."""
        kind = headers.get("content-type", "")
        if kind.partition(";")[0].strip().lower() in ("application/json", ""):
            return None
        limits = self.body_of(method, path)
        refuse_content_type(kind, limits)
        declared = headers.get("content-length", "")
        if limits is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            raise too_large("The request body", limits.max_body_bytes)
        return limits

    def find(self, method: str, path: str) -> tuple[Handler, dict[str, str], Multipart | None]:
        """The route of ``method path``: its handler, the path's ``{param}`` values and what its body
        takes (None: JSON). NotFound, or MethodNotAllowed with the methods the path has."""
        parts = [p for p in path.split("/") if p]
        if parts and parts[0] == "v1":
            parts = parts[1:]
        allowed: list[str] = []
        for segments, methods in self._routes.get(len(parts), ()):
            params: dict[str, str] = {}
            for seg, part in zip(segments, parts, strict=True):  # routes of len(parts) segments
                if seg[0] == "{":
                    params[seg[1:-1]] = part
                elif seg != part:
                    break
            else:
                route = methods.get(method)
                if route is not None:
                    for value in params.values():
                        if "\x00" in value:  # no id has one; some databases would refuse to look it up
                            raise NotFound(f"No object found with id {value!r}.")
                    return route[0], params, route[1]
                allowed.extend(m for m in methods if m not in allowed)
        if allowed:
            raise MethodNotAllowed(f"Invalid method for URL ({method} {path})", code="method_not_allowed",
                                   allow=tuple(allowed))
        raise NotFound(f"Invalid URL ({method} {path})", code="unknown_url")

    async def dispatch(self, app: App, request: Request) -> Response:
        try:
            try:
                handler, request.params, body = self.find(request.method, request.path)
            except (NotFound, MethodNotAllowed):
                check_content_type(request)  # a wrong type is reported first, as before there were forms
                raise
            check_content_type(request, body)
            if body is not None and request._form is None:  # a form sent whole rather than streamed
                request._form = (parse_form(request.body, request.headers.get("content-type", ""), body)
                                 if request.body else Form())
            result = await handler(app, request)
            return result if isinstance(result, Response) else Response.json(result)
        except APIError as e:
            log_server_error(e, f"{request.method} {request.path}")
            return Response.error(e)
        except Exception:
            log.exception("supercompat: error handling %s %s", request.method, request.path)
            return Response.error(internal_error())
        finally:
            request.close()  # the form's files: a handler has moved or copied what it keeps


def request_id() -> str:
    return "req_" + random_base62(24)


def refusal(err: APIError) -> Response:
    """The answer to a request refused before it reached the App (its body too large, say)."""
    response = Response.error(err)
    response.headers.append(("x-request-id", request_id()))
    return response
