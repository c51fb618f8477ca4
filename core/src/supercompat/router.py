"""Routing and request/response plumbing shared by the in-process transport and the HTTP server.

Handlers are ``async def handler(app, request) -> dict | Response``; a dict is sent as JSON with
status 200. Any :class:`~supercompat.errors.APIError` becomes OpenAI's error envelope; anything else
is our bug and becomes a 500 in the same envelope, with the traceback logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .errors import APIError, InvalidRequest, MethodNotAllowed, NotFound, ServerError
from .ids import random_base62

log = logging.getLogger("supercompat")

Handler = Callable[[Any, "Request"], Awaitable[Any]]


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


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

    def json(self) -> dict[str, Any]:
        """The JSON object body; an empty body reads as ``{}``."""
        if self._json is None:
            if not self.body or self.body.isspace():  # strip() would copy a body of any size
                self._json = {}
            else:
                try:
                    self._json = json.loads(self.body)
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

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> "Response":
        return cls(status, dumps(obj), [("content-type", "application/json"), *(headers or [])])

    @classmethod
    def error(cls, err: APIError) -> "Response":
        return cls.json(err.body(), err.status, [("x-should-retry", "false")])

    @classmethod
    def event_stream(cls, events: AsyncIterator[bytes], named_events: bool = True) -> "Response":
        """SSE. ``named_events``: the Assistants streams' ``event:`` lines; chat completions send
        ``data:`` lines only, and so does their error frame."""
        return cls(200, b"", [("content-type", "text/event-stream; charset=utf-8"),
                              ("cache-control", "no-cache")], _guard_stream(events, named_events))


def sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + dumps(data) + b"\n\n"


SSE_DONE = b"event: done\ndata: [DONE]\n\n"


async def _guard_stream(events: AsyncIterator[bytes], named_events: bool) -> AsyncIterator[bytes]:
    """Once the headers are out a failure can't change the status: report it as an error frame that
    every openai SDK stream path raises as ``openai.APIError``, then end the stream cleanly."""
    prefix = b"event: error\n" if named_events else b""
    try:
        async for chunk in events:
            yield chunk
    except APIError as e:
        yield prefix + b"data: " + dumps(e.body()) + b"\n\n"
    except Exception:
        log.exception("supercompat: error while streaming")
        yield prefix + b"data: " + dumps(internal_error().body()) + b"\n\n"


def internal_error() -> ServerError:
    return ServerError("The server had an error while processing your request. Sorry about that!")


class Router:
    """Paths are matched segment by segment; a literal segment wins over a ``{param}``."""

    def __init__(self) -> None:
        self._routes: dict[int, list[tuple[tuple[str, ...], dict[str, Handler]]]] = {}

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        segments = tuple(s for s in pattern.split("/") if s)
        routes = self._routes.setdefault(len(segments), [])
        for existing, methods in routes:
            if existing == segments:
                methods[method] = handler
                return
        routes.append((segments, {method: handler}))
        # Literal segments first, so /threads/runs is tried before /threads/{thread_id}.
        routes.sort(key=lambda r: tuple(s.startswith("{") for s in r[0]))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler
        return decorator

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        parts = [p for p in path.split("/") if p]
        if parts and parts[0] == "v1":
            parts = parts[1:]
        found_path = False
        for segments, methods in self._routes.get(len(parts), ()):
            params: dict[str, str] = {}
            for seg, part in zip(segments, parts):
                if seg[0] == "{":
                    params[seg[1:-1]] = part
                elif seg != part:
                    break
            else:
                handler = methods.get(method)
                if handler is not None:
                    return handler, params
                found_path = True
        if found_path:
            raise MethodNotAllowed(f"Invalid method for URL ({method} {path})", code="method_not_allowed")
        raise NotFound(f"Invalid URL ({method} {path})", code="unknown_url")

    async def dispatch(self, app: Any, request: Request) -> Response:
        try:
            handler, request.params = self.match(request.method, request.path)
            result = await handler(app, request)
            return result if isinstance(result, Response) else Response.json(result)
        except APIError as e:
            return Response.error(e)
        except Exception:
            log.exception("supercompat: error handling %s %s", request.method, request.path)
            return Response.error(internal_error())


def request_id() -> str:
    return "req_" + random_base62(24)
