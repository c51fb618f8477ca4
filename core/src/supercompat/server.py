"""The HTTP server (``supercompat serve``, extra ``supercompat[server]``): an ASGI app over the same
App and router as the in-process transport, so the two can never drift apart.

The App runs on the server's own event loop (one per worker process), never on the in-process
transport's core loop: nothing here goes through ``_loop``.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from .app import App
from .config import ServerOptions, adapters_from, read_config, server_options
from .errors import APIError, ConfigError, NotFound, Unauthorized
from .router import Request, Response, internal_error, request_id

log = logging.getLogger("supercompat")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _Disconnected(Exception):
    """The client went away before its request body arrived."""


def _masked(token: str) -> str:
    return token[:3] + "*" * max(len(token) - 7, 4) + token[-4:] if len(token) > 8 else "*" * len(token)


class ASGIApp:
    """Serves ``app`` under ``/v1`` plus ``GET /health``; checks API keys, body size and shuts the App
    down gracefully on the ASGI lifespan shutdown."""

    def __init__(self, app: App, options: ServerOptions | None = None) -> None:
        options = options or ServerOptions()
        self.app = app
        self.options = options
        self._keys = [(key.encode(), project) for key, project in options.key_projects().items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
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
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            if path == "/health" and method == "GET":
                status = 503 if self.app.closing else 200
                response = Response.json({"status": "shutting down" if self.app.closing else "ok"}, status)
            elif path != "/v1" and not path.startswith("/v1/"):
                raise NotFound(f"Invalid URL ({method} {path})", code="unknown_url")
            else:
                project = self._authenticate(headers)
                body = await self._read_body(headers, receive)
                request = Request(method=method, path=path, query_string=scope["query_string"].decode("latin-1"),
                                  headers=headers, body=body, project=project)
                response = await self.app.handle(request)
        except _Disconnected:
            return
        except APIError as e:
            response = Response.error(e)
            response.headers.append(("x-request-id", request_id()))
        except Exception:
            log.exception("supercompat: error serving %s %s", method, path)
            response = Response.error(internal_error())
            response.headers.append(("x-request-id", request_id()))
        await self._respond(response, send, receive)

    def _authenticate(self, headers: dict[str, str]) -> str | None:
        """The project of the request's API key; every configured key is compared, in constant time."""
        if not self._keys:
            return None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
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

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        limit = self.options.max_request_bytes
        too_large = APIError(f"The request body is larger than this server accepts ({limit} bytes).",
                             status=413, code="request_too_large")
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

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
        log.error("supercompat: event stream ended with an error", exc_info=failure)


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


def app_from_config(path: str | os.PathLike[str] | None = None) -> ASGIApp:
    """The ASGI app ``supercompat.toml`` (or ``$SUPERCOMPAT_CONFIG``) describes; each ``--workers``
    process builds its own with this (``uvicorn --factory supercompat.server:app_from_config``)."""
    data = read_config(path)
    return ASGIApp(App(**adapters_from(data)), server_options(data))


def serve(path: str | os.PathLike[str] | None = None, **overrides: Any) -> None:
    """Run the server until interrupted. ``overrides`` (host, port, workers) win over ``[server]``."""
    import uvicorn

    data = read_config(path)
    options = server_options(data).model_copy(update={k: v for k, v in overrides.items() if v is not None})
    storage_plugin = (data.get("storage") or {}).get("plugin", "memory")
    check_options(options, storage_plugin)
    if options.allow_unauthenticated_public_bind and not options.api_keys and not is_loopback(options.host):
        log.warning("supercompat: serving on %s without API keys: anyone who can reach it is let in", options.host)
    settings = {"host": options.host, "port": options.port, "timeout_graceful_shutdown": options.shutdown_grace_seconds,
                "lifespan": "on"}
    if options.workers == 1:
        uvicorn.run(ASGIApp(App(**adapters_from(data)), options), **settings)
        return
    asyncio.run(App(**adapters_from(data)).aclose(0))  # fail here, once, rather than in every worker
    os.environ["SUPERCOMPAT_CONFIG"] = os.path.abspath(path or os.environ.get("SUPERCOMPAT_CONFIG", "supercompat.toml"))
    uvicorn.run("supercompat.server:app_from_config", factory=True, workers=options.workers, **settings)


__all__ = ["ASGIApp", "app_from_config", "check_options", "is_loopback", "serve"]
