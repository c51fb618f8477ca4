"""The HTTP server (``supercompat serve``, extra ``supercompat[server]``): an ASGI app over the same
App and router as the in-process transport, so the two can never drift apart.

The App runs on the server's own event loop (one per worker process), never on the in-process
transport's core loop: nothing here goes through ``supercompat.loop``.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import json
import logging
import os
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from .app import App
from .config import ServerOptions, adapters_from, read_config, server_options
from .dashboard import Dashboard
from .errors import APIError, ConfigError, NotFound, Unauthorized
from .forms import Form, FormReader, Multipart
from .router import Request, Response, internal_error, refusal

log = logging.getLogger("supercompat")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _Disconnected(Exception):
    """The client went away before its request body arrived."""


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
# CORS is these few lines rather than Starlette's CORSMiddleware: that would be our only use of
# Starlette, and it refuses in plain text, outside OpenAI's envelope, before our Host check.
# Response headers the SDKs read, which a browser shows a page only if they are exposed.
EXPOSED_HEADERS = "x-request-id, openai-poll-after-ms, x-should-retry, retry-after, retry-after-ms"
CORS_METHODS = "GET, POST, DELETE, OPTIONS"


def _forbidden(message: str, code: str) -> APIError:
    return APIError(message, status=403, code=code)


def _origin_refused(origin: str) -> APIError:
    return _forbidden(f"Requests from the web origin {origin!r} are not allowed ([server] cors_allowed_origins).",
                      "origin_not_allowed")


def _host_name(host: str) -> str:
    """The Host header without its port: ``[::1]:8000`` -> ``[::1]``, ``Example.com:80`` -> ``example.com``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[:host.find("]") + 1]
    return host.rpartition(":")[0] if ":" in host else host


def _same_origin(origin: str, headers: dict[str, str]) -> bool:
    """A page of this server (the dashboard) calling it: browsers name the origin on a same-origin POST
    too. Trusted only where the Host check has accepted the request's ``Host`` (not under
    ``allowed_hosts = ["*"]``, where a rebound name would pass), and only as the browser says it:
    ``Sec-Fetch-Site: same-origin`` when sent, an http(s) origin whose host and port are the Host's."""
    if headers.get("sec-fetch-site", "same-origin") != "same-origin":
        return False
    scheme, _, host = origin.lower().partition("://")
    return scheme in ("http", "https") and host == headers.get("host", "").strip().lower() != ""


def _has_body(headers: dict[str, str]) -> bool:
    return headers.get("content-length", "0").strip() != "0" or "transfer-encoding" in headers


def _azure(path: str, query: str) -> tuple[str, str]:
    """An Azure OpenAI client's request as ours: ``/openai/deployments/{model}/chat/completions`` and
    ``/openai/assistants`` are ``/v1/chat/completions`` and ``/v1/assistants``; ``api-version`` goes."""
    rest = path[len("/openai"):]
    parts = rest.split("/", 3)
    if len(parts) > 2 and parts[1] == "deployments":  # the model is in the body as well
        rest = "/" + parts[3] if len(parts) > 3 else ""
    query = "&".join(p for p in query.split("&") if p and p.partition("=")[0] != "api-version")
    return "/v1" + rest, query


def _masked(token: str) -> str:
    return token[:3] + "*" * max(len(token) - 7, 4) + token[-4:] if len(token) > 8 else "*" * len(token)


class ASGIApp:
    """Serves ``app`` under ``/v1``, ``GET /health`` and the dashboard under ``/ui``; checks API keys,
    body size and shuts the App down gracefully on the ASGI lifespan shutdown."""

    def __init__(self, app: App, options: ServerOptions | None = None) -> None:
        options = options or ServerOptions()
        self.app = app
        self.options = options
        self._keys = [(key.encode(), project) for key, project in options.key_projects().items()]
        # With no keys, any page a browser on this machine opens could call us: only our own Host
        # names (DNS rebinding) and no foreign Origin. Behind a public bind anyone may call anyway.
        self._open_to_browsers = not self._keys and is_loopback(options.host)
        hosts = options.allowed_hosts
        if hosts is None and self._open_to_browsers:
            bound = f"[{options.host}]" if ":" in options.host else options.host  # 127.0.0.2 is loopback too
            hosts = [*LOOPBACK_HOSTS, bound]
        self._hosts = None if hosts is None or "*" in hosts else {_host_name(h) for h in hosts}
        self._origins = set(options.cors_allowed_origins)
        self._dashboard = Dashboard() if options.ui else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                loop = asyncio.get_running_loop()
                loop.set_exception_handler(_QuietAcceptErrors(loop.get_exception_handler()))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.app.aclose(self.options.shutdown_grace_seconds)
                except Exception as exc:
                    log.exception("supercompat: error while shutting down")
                    await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        query = scope["query_string"].decode("latin-1")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        cors = self._cors_headers(origin)
        body_read = False
        try:
            self._check_caller(headers, origin, cors)
            if method == "OPTIONS" and origin is not None and "access-control-request-method" in headers:
                response = self._preflight(headers, cors)
            elif path == "/health" and method == "GET":
                status = 503 if self.app.closing else 200
                response = Response.json({"status": "shutting down" if self.app.closing else "ok"}, status)
            elif self._dashboard is not None and self._dashboard.serves(path):
                response = self._dashboard.respond(method, path, headers)
            else:
                if path == "/openai" or path.startswith("/openai/"):
                    path, query = _azure(path, query)
                if path != "/v1" and not path.startswith("/v1/"):
                    raise NotFound(f"Invalid URL ({method} {path})", code="unknown_url")
                project = self._authenticate(headers)
                request = Request(method=method, path=path, query_string=query, headers=headers, project=project)
                form = self.app.router.form_limits(method, path, headers) if _has_body(headers) else None
                if form is not None:
                    request._form = await self._read_form(headers, receive, form)
                else:
                    request.body = await self._read_body(headers, receive)
                body_read = True
                response = await self.app.handle(request)
        except _Disconnected:
            return
        except APIError as e:
            response = refusal(e)
        except Exception:
            log.exception("supercompat: error serving %s %s", method, path)
            response = refusal(internal_error())
        if not body_read and _has_body(headers):
            # Answered without reading the body (no key, too large...): don't spend time reading it now.
            response.headers.append(("connection", "close"))
        response.headers.extend(cors)
        await self._respond(response, send, receive)

    def _check_caller(self, headers: dict[str, str], origin: str | None, cors: list[tuple[str, str]]) -> None:
        if self._hosts is not None and _host_name(headers.get("host", "")) not in self._hosts:
            raise _forbidden("This server does not answer for the host this request names "
                             "([server] allowed_hosts).", "host_not_allowed")
        if self._open_to_browsers and origin is not None and not cors and not (
                self._hosts is not None and _same_origin(origin, headers)):
            raise _origin_refused(origin)

    def _cors_headers(self, origin: str | None) -> list[tuple[str, str]]:
        """The CORS headers of every response to a browser page of an allowed origin; none otherwise."""
        if origin is None or not self._origins:
            return []
        if "*" in self._origins:
            return [("access-control-allow-origin", "*"), ("access-control-expose-headers", EXPOSED_HEADERS)]
        if origin.lower() not in self._origins:
            return []
        return [("access-control-allow-origin", origin), ("access-control-expose-headers", EXPOSED_HEADERS),
                ("vary", "Origin")]

    def _preflight(self, headers: dict[str, str], cors: list[tuple[str, str]]) -> Response:
        """A browser asking whether a page of its origin may call: yes, with any request header (the
        SDKs send several of their own), if the origin is allowed."""
        if not cors:
            raise _origin_refused(headers["origin"])
        allowed = [("access-control-allow-methods", CORS_METHODS),
                   ("access-control-max-age", str(self.options.cors_max_age_seconds))]
        asked = headers.get("access-control-request-headers", "")
        if asked:
            allowed.append(("access-control-allow-headers", asked))
        return Response(204, b"", allowed)

    def _authenticate(self, headers: dict[str, str]) -> str | None:
        """The project of the request's API key; every configured key is compared, in constant time."""
        if not self._keys:
            return None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if "api-key" in headers and not token:  # Azure OpenAI clients send their key so
            scheme, token = "bearer", headers["api-key"].strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("You didn't provide an API key. You need to provide your API key in an "
                                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        given = token.encode()
        found: list[str | None] = []
        for key, project in self._keys:
            if hmac.compare_digest(key, given):
                found.append(project)
        if not found:
            raise Unauthorized(f"Incorrect API key provided: {_masked(token)}.", code="invalid_api_key")
        return found[0]

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytearray:
        """The body, held once (one buffer, no list of chunks joined into a copy), within
        ``max_request_bytes``, the whole of it within ``body_timeout_seconds``: the JSON routes' body."""
        limit = self.options.max_request_bytes
        too_large = APIError(f"The request body is larger than this server accepts ({limit} bytes).",
                             status=413, code="request_too_large")
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large
        body = bytearray()
        deadline = time.monotonic() + self.options.body_timeout_seconds
        while True:
            chunk, more = await self._body_chunk(receive, max(deadline - time.monotonic(), 0))
            if len(body) + len(chunk) > limit:
                raise too_large
            body += chunk
            if not more:
                return body

    async def _read_form(self, headers: dict[str, str], receive: Receive, limits: Multipart) -> Form:
        """A ``multipart/form-data`` body, parsed chunk by chunk as it arrives (files spooled, never
        held whole), within the route's limits. It may take as long as it needs while it keeps
        coming: ``body_timeout_seconds`` bounds each wait for its next chunk, not the whole."""
        return await FormReader(headers["content-type"], limits).aread(self._idle_bounded_chunks(receive))

    async def _idle_bounded_chunks(self, receive: Receive) -> AsyncIterator[bytes]:
        """The body's chunks, each within ``body_timeout_seconds`` of the one before."""
        more = True
        while more:
            chunk, more = await self._body_chunk(receive, self.options.body_timeout_seconds, idle=True)
            yield chunk

    async def _body_chunk(self, receive: Receive, timeout: float, idle: bool = False) -> tuple[bytes, bool]:
        """The next chunk of the body, and whether more follow; a 408 if it takes over ``timeout``
        (``idle``: the time since the previous chunk, else what is left of the whole body's)."""
        try:
            message = await asyncio.wait_for(receive(), timeout)
        except TimeoutError:
            seconds = f"{self.options.body_timeout_seconds:g} seconds"
            raise APIError(f"No part of the request body arrived for {seconds}." if idle
                           else f"The request body did not arrive within {seconds}.",
                           status=408, code="request_timeout") from None
        if message["type"] == "http.disconnect":
            raise _Disconnected
        return message.get("body", b""), message.get("more_body", False)

    async def _respond(self, response: Response, send: Send, receive: Receive) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        if response.stream is None:
            headers.append((b"content-length", str(len(response.body)).encode()))
            await send({"type": "http.response.start", "status": response.status, "headers": headers})
            await send({"type": "http.response.body", "body": response.body})
            return
        headers.append((b"x-accel-buffering", b"no"))  # tell nginx not to buffer the event stream
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await _stream(response.stream, send, receive)


async def _stream(chunks: AsyncIterator[bytes], send: Send, receive: Receive) -> None:
    """Send each chunk as it comes. If the client disconnects first, stop reading and close the
    stream: that frees the subscription (a run goes on, as on OpenAI) or aborts a provider stream."""

    async def pump() -> None:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = [asyncio.ensure_future(pump()), asyncio.ensure_future(disconnect())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    failure = results[0]
    if isinstance(failure, Exception):
        log.error("supercompat: a streamed response ended with an error", exc_info=failure)


# -- connections ----------------------------------------------------------------------------------
# uvicorn has a keep-alive timeout but nothing for a connection that never completes its request's
# headers, nor a cap on open connections (its limit_concurrency answers 503 only once a request has
# arrived, and logs each one): so hundreds of idle or trickling sockets, with no key, could use up
# the process's file handles. GuardedHTTP wraps uvicorn's own HTTP protocol to add both.

@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int
    header_timeout: float
    protocol: Any = None  # uvicorn's HTTP protocol class; None: the one uvicorn picks by default

    def protocol_class(self) -> Any:
        if self.protocol is not None:
            return self.protocol
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        return AutoHTTPProtocol


class _OncePer:
    """``due()`` is true at most once per ``seconds``: for a warning that would otherwise come once a
    connection or once a second while a condition lasts."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds
        self._last: float | None = None

    def due(self) -> bool:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.seconds:
            return False
        self._last = now
        return True


class _Connections:
    """The open connections of one uvicorn server; ``idle`` (no request in flight), oldest first."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limit = limits.max_connections
        self.open = 0
        self.idle: OrderedDict[GuardedHTTP, None] = OrderedDict()
        self.shed = 0
        self._warning = _OncePer(60.0)  # at the cap: one warning a minute, not one a connection

    def make_room(self) -> bool:
        """At the cap: close the connection idle longest (a client that hasn't sent a request, or a
        kept-alive one between requests); False if every connection has a request in flight."""
        self.shed += 1
        if self._warning.due():
            log.warning("supercompat: %d connections open (max_connections); closing the longest idle to "
                        "make room (%d so far)", self.open, self.shed)
        if not self.idle:
            return False
        victim, _ = self.idle.popitem(last=False)
        victim.close()
        return True


_servers: weakref.WeakKeyDictionary[Any, _Connections] = weakref.WeakKeyDictionary()


class GuardedHTTP(asyncio.Protocol):
    """uvicorn's HTTP protocol for one connection, plus: a request's headers must arrive within
    ``header_timeout`` of the connection opening or of its previous response, and the server keeps at
    most ``max_connections`` open. uvicorn builds it as its ``http`` protocol class (through
    ``functools.partial`` with the limits); requests reach the ASGI app through ``_serve``, which
    tells the connection when one is in flight."""

    def __init__(self, config: Any, server_state: Any, app_state: Any, _loop: Any = None, *,
                 limits: ConnectionLimits) -> None:
        self.inner = limits.protocol_class()(config=config, server_state=server_state, app_state=app_state,
                                             _loop=_loop)
        self.app = self.inner.app
        self.inner.app = self._serve  # uvicorn's protocols call self.app for each request
        connections = _servers.get(server_state)
        if connections is None:
            connections = _servers[server_state] = _Connections(limits)
        self.connections = connections
        self.header_timeout = limits.header_timeout
        self.loop = _loop or asyncio.get_running_loop()
        self.transport: Any = None
        self._deadline: asyncio.TimerHandle | None = None
        self._counted = False  # in connections.open
        self._refused = False  # closed at once, never shown to uvicorn's protocol

    # asyncio.Protocol, forwarded to uvicorn's protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self.connections.open >= self.connections.limit and not self.connections.make_room():
            self._refused = True
            transport.abort()
            return
        self.connections.open += 1
        self._counted = True
        self.inner.connection_made(transport)
        self._idle()

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self._refused else self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._forget()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # the guard
    def close(self) -> None:
        self._forget()
        self.transport.abort()

    def _forget(self) -> None:
        if self._counted:
            self._counted = False
            self.connections.open -= 1
        self._busy()

    def _idle(self) -> None:
        """No request in flight: the next one's headers must come within the header timeout."""
        if not self._counted or self.transport.is_closing():  # closed, or closing
            return
        self._busy()  # a deadline of its own, and the youngest place in the idle order
        self.connections.idle[self] = None
        self._deadline = self.loop.call_later(self.header_timeout, self.close)

    def _busy(self) -> None:
        self.connections.idle.pop(self, None)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._busy()
        answered = False

        async def watched(message: MutableMapping[str, Any]) -> None:
            nonlocal answered
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
                self._idle()

        try:
            await self.app(scope, receive, watched)
        finally:
            if not answered:
                self._idle()


class _QuietAcceptErrors:
    """asyncio logs every accept() that fails for want of file handles, with a traceback, once a second
    while it lasts: log it once a minute instead, with a count. Other loop errors pass through."""

    def __init__(self, previous: Callable[..., Any] | None) -> None:
        self.previous = previous
        self.count = 0
        self._warning = _OncePer(60.0)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != "socket.accept() out of system resource":
            if self.previous is not None:
                self.previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self.count += 1
        if self._warning.due():
            log.warning("supercompat: out of file handles accepting a connection (%d times so far): %s; lower "
                        "[server] max_connections or raise the open-file limit", self.count, context.get("exception"))


def _open_file_limit() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def uvicorn_settings(options: ServerOptions, protocol: Any = None) -> dict[str, Any]:
    """uvicorn's settings for ``options``: timeouts, and a connection cap and accept backlog that
    leave room in the open-file limit (half for connections, an eighth for each burst of accepts
    being sorted out, the rest for storage, providers and logs), so that connections alone can't
    run the server out of file handles."""
    max_connections, backlog = options.max_connections, 2048
    files = _open_file_limit()
    if files is not None:
        max_connections = max(1, min(max_connections, files // 2))
        backlog = max(1, min(backlog, files // 8))
    limits = ConnectionLimits(max_connections, options.header_timeout_seconds, protocol)
    return {"host": options.host, "port": options.port, "lifespan": "on", "ws": "none",
            "timeout_graceful_shutdown": options.shutdown_grace_seconds,
            "timeout_keep_alive": options.keep_alive_timeout_seconds, "backlog": backlog,
            "http": functools.partial(GuardedHTTP, limits=limits)}


# -- serving --------------------------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_options(options: ServerOptions, storage_plugin: str) -> None:
    """Refuse what would be unsafe or silently wrong, as one clear sentence."""
    if not options.api_keys and not is_loopback(options.host) and not options.allow_unauthenticated_public_bind:
        raise ConfigError(f"Refusing to serve on {options.host} without API keys: set [server] api_keys, or "
                          "allow_unauthenticated_public_bind = true to let anyone who can reach it in.")
    if options.workers > 1 and storage_plugin == "memory":
        raise ConfigError(f"--workers {options.workers} needs storage that the worker processes share; the "
                          "memory storage lives in one process. Use SQL storage ([storage] plugin = "
                          "\"sqlalchemy\") or a single worker.")


_OVERRIDES = "SUPERCOMPAT_SERVE_OVERRIDES"  # serve()'s flags, for the --workers processes


def app_from_config(path: str | os.PathLike[str] | None = None) -> ASGIApp:
    """The ASGI app ``supercompat.toml`` (or ``$SUPERCOMPAT_CONFIG``) describes; each ``--workers``
    process builds its own with this (``uvicorn --factory supercompat.server:app_from_config``)."""
    data = read_config(path)
    options = server_options(data)
    if _OVERRIDES in os.environ:  # serve()'s command-line flags: the bind host decides the Host check
        options = options.model_copy(update=json.loads(os.environ[_OVERRIDES]))
    return ASGIApp(App(**adapters_from(data)), options)


def serve(path: str | os.PathLike[str] | None = None, **overrides: Any) -> None:
    """Run the server until interrupted. ``overrides`` (host, port, workers) win over ``[server]``."""
    import uvicorn

    data = read_config(path)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    options = server_options(data).model_copy(update=overrides)
    storage_plugin = (data.get("storage") or {}).get("plugin", "memory")
    check_options(options, storage_plugin)
    if options.allow_unauthenticated_public_bind and not options.api_keys and not is_loopback(options.host):
        log.warning("supercompat: serving on %s without API keys: anyone who can reach it is let in", options.host)
    if "*" in options.cors_allowed_origins and not options.api_keys:
        log.warning("supercompat: cors_allowed_origins = [\"*\"] without API keys: any web page a browser here "
                    "opens can use the server")
    settings = uvicorn_settings(options)
    if options.workers == 1:
        uvicorn.run(ASGIApp(App(**adapters_from(data)), options), **settings)
        return
    asyncio.run(App(**adapters_from(data)).aclose(0))  # fail here, once, rather than in every worker
    os.environ["SUPERCOMPAT_CONFIG"] = os.path.abspath(path or os.environ.get("SUPERCOMPAT_CONFIG", "supercompat.toml"))
    os.environ[_OVERRIDES] = json.dumps(overrides)
    uvicorn.run("supercompat.server:app_from_config", factory=True, workers=options.workers, **settings)


__all__ = ["ASGIApp", "GuardedHTTP", "app_from_config", "check_options", "is_loopback", "serve", "uvicorn_settings"]
