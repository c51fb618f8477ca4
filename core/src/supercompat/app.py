"""The App: the adapters of one supercompat client, behind the shared router."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from . import loop as _loop
from .api import build_router
from .blobs import BlobStore
from .clients import ClientAdapter
from .embedders import Embedder
from .errors import APIError, ConfigError
from .forms import Multipart
from .jobs import Jobs
from .router import Handler, Request, Response, request_id
from .runs import RunAdapter
from .runs.engine import RunEngine
from .search import ChunkIndex
from .storage import StorageAdapter
from .tools import ToolExecutor
from .vector_stores import VectorStores

_router = build_router()


def _storage_default(storage: StorageAdapter, method: str, otherwise: Callable[[], Any]) -> Any:
    """What the storage adapter's optional ``method()`` makes (where its data lives, the bytes and the
    chunks live too), else ``otherwise()``."""
    make = getattr(storage, method, None)
    return make() if make is not None else otherwise()


class App:
    """The adapters of one supercompat client or server (see ``supercompat.contracts``), its run
    engine and jobs, behind the shared router. ``client`` is None when no client adapter is given:
    runs and chat completions then fail saying so."""

    def __init__(self, *, client_adapter: ClientAdapter | None = None, storage_adapter: StorageAdapter | None = None,
                 run_adapter: RunAdapter | None = None, tools: Iterable[ToolExecutor] | None = None,
                 blob_store: BlobStore | None = None, embedder: Embedder | None = None,
                 chunk_index: ChunkIndex | None = None) -> None:
        """``tools``: the built-in tool executors runs may use (see ``supercompat.tools``); by default
        every one the installed plugins register. ``blob_store``: where file bytes live; by default
        the storage adapter's ``default_blob_store()`` if it has one (the SQL storage keeps files
        beside a SQLite database), else memory. ``embedder``: what answers ``embeddings.create`` (see
        ``supercompat.embedders``); None, the default, is none: embeddings requests are refused saying
        how to configure one, and vector store search is keyword-only. ``chunk_index``: where vector
        stores' chunks are indexed and searched (see ``supercompat.search``); by default the storage
        adapter's ``default_chunk_index()`` if it has one (the SQL storage searches in its database),
        else memory."""
        if storage_adapter is None:
            from .storage import memory_storage_adapter

            storage_adapter = memory_storage_adapter()
        if run_adapter is None:
            from .runs import completions_run_adapter

            run_adapter = completions_run_adapter()
        if blob_store is None:
            from .blobs import memory_blob_store

            blob_store = _storage_default(storage_adapter, "default_blob_store", memory_blob_store)
        if chunk_index is None:
            from .search_memory import memory_chunk_index

            chunk_index = _storage_default(storage_adapter, "default_chunk_index", memory_chunk_index)
        self.client: ClientAdapter | None = client_adapter
        self.storage: StorageAdapter = storage_adapter
        self.run_adapter: RunAdapter = run_adapter
        self.blobs: BlobStore = blob_store
        self.embedder: Embedder | None = embedder
        self.index: ChunkIndex = chunk_index
        if tools is None:
            from .plugins import tool_executors

            tools = tool_executors()
        self.tools: dict[str, ToolExecutor] = {}  # tool type -> its executor
        for executor in tools:
            if executor.type in self.tools or executor.type == "function":
                raise ConfigError(f"Only one built-in tool executor per tool type (and none for 'function', "
                                  f"the user's): got another for '{executor.type}'.")
            self.tools[executor.type] = executor
        self.router = _router
        self.jobs = Jobs(self)
        self.engine = RunEngine(self)
        # core's own job kinds (file ingestion) are registered here, before the adapters' own
        self.vector_stores = VectorStores(self)
        self.closing = False
        for wire in self._adapter_hooks("wire"):
            wire(self)
        for register_job_kinds in self._adapter_hooks("register_job_kinds"):
            register_job_kinds(self.jobs)
        _loop.renew_after_fork(self)

    def add_route(self, method: str, pattern: str, handler: Handler, body: Multipart | None = None) -> None:
        """Serve one more route on this App only (``Router.add``; the others keep the shared routes)."""
        if self.router is _router:
            self.router = _router.copy()
        self.router.add(method, pattern, handler, body)

    def _adapter_hooks(self, name: str) -> list[Callable[..., Any]]:
        """The adapters' methods called ``name``, for the optional hooks adapters opt in to
        (``ready_to_fork``, ``after_fork``, ``register_job_kinds(jobs)``, and ``wire(app)``, called once
        the App has every adapter, so that one adapter can use another: a SQL blob store without a URL
        of its own keeps its rows in the storage adapter's database)."""
        adapters = (self.storage, self.client, self.run_adapter, self.blobs, self.embedder, self.index,
                    *self.tools.values())
        return [hook for adapter in adapters
                if adapter is not None and (hook := getattr(adapter, name, None)) is not None]

    def ready_to_fork(self) -> bool:
        """Whether no adapter has an operation in flight that a forked child would inherit half-done
        (adapters opt in with a ``ready_to_fork()`` of their own)."""
        return all(ready() for ready in self._adapter_hooks("ready_to_fork"))

    def after_fork(self) -> None:
        """In a process forked from this one (gunicorn --preload, Celery prefork, multiprocessing):
        the engine and every adapter drop what is bound to the parent's loop or shared with it
        (connections) and start afresh; the parent's own are left alone for the parent. Adapters opt in
        with an ``after_fork()`` method of their own, which must only drop state (it may run twice)."""
        self.engine.after_fork()
        self.jobs.after_fork()
        self.vector_stores.after_fork()
        for after_fork in self._adapter_hooks("after_fork"):
            after_fork()

    async def handle(self, request: Request) -> Response:
        if self.closing:
            response = Response.error(APIError("The server is shutting down.", status=503, type="server_error"))
        else:
            self.engine.watch()
            response = await self.router.dispatch(self, request)
        response.headers.append(("x-request-id", request_id()))
        return response

    async def aclose(self, grace: float = 10.0) -> None:
        """Shut down gracefully: refuse new requests and jobs, give runs and jobs in flight up to
        ``grace`` seconds to finish, end the runs still going as failed (see RunEngine.shutdown) and
        stop the jobs, to resume elsewhere (see Jobs.shutdown); then stop the lease heartbeat and
        close the client adapter (its optional ``aclose()``) and the storage. Call it on the loop the
        App has served on."""
        if self.closing:
            return
        self.closing = True  # from now on the heartbeat renews what runs here but claims nothing
        await asyncio.gather(self.jobs.shutdown(grace), self.engine.shutdown(grace))
        # Only now: until both have shut down, what they still run keeps its lease, so no other
        # process takes over a job (or ends a run) that is still running here.
        await self.engine.stop_watching(grace)
        aclose = getattr(self.client, "aclose", None)
        if aclose is not None:
            await aclose()
        for executor in self.tools.values():  # their sessions (code_interpreter's), before what they use
            close = getattr(executor, "close", None)
            if close is not None:
                await close()
        if self.embedder is not None:
            await self.embedder.close()
        await self.blobs.close()
        await self.index.close()
        await self.storage.close()
