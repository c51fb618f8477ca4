"""A real uvicorn server on 127.0.0.1 (a free port, in a thread) serving an App, as ``supercompat
serve`` does, for tests that go over HTTP. Needs ``supercompat[server]`` (uvicorn), imported only
when a server starts.

    with serving(app, api_keys=[KEY]) as server:
        client = server.client("sync")   # an openai.OpenAI with base_url on the server
"""

from __future__ import annotations

import threading
import time
from typing import Any

import openai

from ..app import App
from ..config import ServerOptions
from ..server import ASGIApp, uvicorn_settings

KEY = "sk-test-alpha"


class RunningServer:
    def __init__(self, app: App, options: ServerOptions) -> None:
        import uvicorn

        self.asgi = ASGIApp(app, options)
        settings = {**uvicorn_settings(options), "host": "127.0.0.1", "port": 0}  # as `supercompat serve`
        config = uvicorn.Config(self.asgi, log_level="warning", **settings)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self._sync_clients: list[openai.OpenAI] = []

    def __enter__(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
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
        self.thread.join()

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


__all__ = ["KEY", "RunningServer", "serving"]
