"""A real uvicorn server on 127.0.0.1 (a free port) serving an App, as ``supercompat serve`` does, for
tests that go over HTTP. Needs ``supercompat[server]`` (uvicorn), imported only when a server starts.

Servers run on one event loop of their own, in a daemon thread that outlives them (as the core loop
does, but apart from it, as a server's loop is): a provider's async SDK client the served App used
keeps connections bound to that loop, which a test's fixture may close after the server stopped.

    with serving(app, api_keys=[KEY]) as server:
        client = server.client("sync")   # an openai.OpenAI with base_url on the server
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import openai

from ..app import App
from ..config import ServerOptions
from ..server import ASGIApp, uvicorn_settings

KEY = "sk-test-alpha"
T = TypeVar("T")
_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _servers_loop() -> asyncio.AbstractEventLoop:
    """The loop the test servers run on, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="uvicorn", daemon=True).start()
        return _loop


class RunningServer:
    def __init__(self, app: App, options: ServerOptions) -> None:
        import uvicorn

        self.asgi = ASGIApp(app, options)
        settings = {**uvicorn_settings(options), "host": "127.0.0.1", "port": 0}  # as `supercompat serve`
        config = uvicorn.Config(self.asgi, log_level="warning", **settings)
        self.server = uvicorn.Server(config)
        self._serving: concurrent.futures.Future[None] | None = None
        self._sync_clients: list[openai.OpenAI] = []

    def __enter__(self) -> RunningServer:
        self._serving = asyncio.run_coroutine_threadsafe(self.server.serve(), _servers_loop())
        deadline = time.monotonic() + 30
        while not self.server.started:
            if self._serving.done() or time.monotonic() > deadline:
                self._serving.result(0)  # its error, if it failed
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = self.url + "/v1"
        return self

    def __exit__(self, *exc: Any) -> None:
        for client in self._sync_clients:
            client.close()
        self.server.should_exit = True
        if self._serving is not None:
            self._serving.result()

    def call(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the server's loop (the one its App serves on: to close that App, say)."""
        return asyncio.run_coroutine_threadsafe(coro, _servers_loop())

    def client(self, kind: str = "sync", api_key: str = KEY) -> Any:
        """An openai SDK client of this server; sync ones are closed with the server, async ones
        are the caller's to close (on its own loop)."""
        if kind.startswith("async"):
            return openai.AsyncOpenAI(base_url=self.base_url, api_key=api_key, max_retries=0)
        client = openai.OpenAI(base_url=self.base_url, api_key=api_key, max_retries=0)
        self._sync_clients.append(client)
        return client


def serving(app: App | None = None, **options: Any) -> RunningServer:
    """A server of ``app`` (a new App by default) with these ``ServerOptions``; start it with ``with``."""
    return RunningServer(app or App(), ServerOptions(**options))


# The ``client`` fixtures of the kits that run an App of their own (``kit_app``): in process, or over
# HTTP through the class's server (``kit_server``, made by :func:`server_fixture`).
def server_fixture() -> Any:
    """A kit's ``kit_server`` fixture: one server for a class's tests (only :func:`served_client` asks
    for it, so a class that stays in process starts none)."""
    from .kit import fixture

    @fixture(scope="class")
    def kit_server(self: Any) -> Iterator[RunningServer]:
        with serving(api_keys=[KEY], shutdown_grace_seconds=0) as server:
            yield server

    return kit_server


def in_process_client(kinds: Sequence[str] = ("sync-client",)) -> Any:
    """A ``client`` fixture for a kit's subclass: openai clients of these kinds answered in process by
    ``kit_app`` (a provider's tests vary its SDK's clients; core's run a kit with both openai clients)."""
    from .kit import fixture
    from .vector_stores import app_client

    @fixture(params=list(kinds))
    def client(self: Any, request: Any, kit_app: App) -> Any:
        return app_client(kit_app, request.param)

    return client


def served_client(kinds: Sequence[str] = ("sync-client",)) -> Any:
    """A ``client`` fixture for a kit's subclass that goes over HTTP: ``kit_app`` served by the class's
    real uvicorn server on 127.0.0.1 (which needs ``supercompat[server]``), an openai client of each
    kind pointed at it.

        class TestFileSearchOverHTTP(FileSearchTests):
            client = served_client()
    """
    from .kit import fixture

    @fixture(params=list(kinds))
    async def client(self: Any, request: Any, kit_app: App, kit_server: RunningServer) -> AsyncIterator[Any]:
        kit_server.asgi.app = kit_app
        served = kit_server.client(request.param)
        assert str(served.base_url) == kit_server.base_url + "/"  # loopback HTTP, not in process
        yield served
        if isinstance(served, openai.AsyncOpenAI):
            await served.close()
        await asyncio.wrap_future(kit_server.call(kit_app.aclose(grace=0)))  # on the loop it served on

    return client


__all__ = ["KEY", "RunningServer", "in_process_client", "served_client", "server_fixture", "serving"]
