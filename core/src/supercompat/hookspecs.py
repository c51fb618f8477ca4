"""The hooks a supercompat plugin can implement.

The adapter hooks receive ``register(name, factory, options=None)`` (:class:`Register`): ``factory``
builds the adapter from an instance of ``options`` (a pydantic model; the section of
``supercompat.toml`` is validated with it) and ``name`` is what ``plugin = "<name>"`` in the
configuration refers to. ``register_tools`` receives ``register(executor)`` or
``register(type, factory)`` (:class:`RegisterTool`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .blobs import BlobStore
    from .clients import ClientAdapter
    from .embedders import Embedder
    from .runs import RunAdapter
    from .sandboxes import Sandbox
    from .search import ChunkIndex
    from .storage import StorageAdapter
    from .tools import ToolExecutor

hookspec = pluggy.HookspecMarker("supercompat")
hookimpl = pluggy.HookimplMarker("supercompat")

AdapterT_contra = TypeVar("AdapterT_contra", contravariant=True)


class Register(Protocol[AdapterT_contra]):
    """The ``register`` of an adapter hook: ``register(name, factory, options=None)``, where
    ``factory(options)`` builds the adapter from an instance of ``options`` (a pydantic model; no
    options: an empty one). A name registered twice is a ConfigError."""

    def __call__(self, name: str, factory: Callable[[Any], AdapterT_contra],
                 options: type[BaseModel] | None = None) -> None: ...


class RegisterTool(Protocol):
    """The ``register`` of ``register_tools``: ``register(executor)``, one instance shared by every
    App, or ``register(type, factory)``, with a ``factory()`` called for each App."""

    @overload
    def __call__(self, executor: ToolExecutor, /) -> None: ...
    @overload
    def __call__(self, type: str, factory: Callable[[], ToolExecutor], /) -> None: ...


@hookspec
def register_client_adapters(register: Register[ClientAdapter]) -> None:
    """Register client adapters: providers spoken through the chat-completions lingua franca."""


@hookspec
def register_storage_adapters(register: Register[StorageAdapter]) -> None:
    """Register storage adapters: where assistants, threads, messages, runs and steps live."""


@hookspec
def register_run_adapters(register: Register[RunAdapter]) -> None:
    """Register run adapters: how a run turns a thread into provider calls and events."""


@hookspec
def register_blob_stores(register: Register[BlobStore]) -> None:
    """Register blob stores: where the bytes of Files live (their metadata lives in storage)."""


@hookspec
def register_embedders(register: Register[Embedder]) -> None:
    """Register embedders: text to vectors, for ``embeddings.create`` and vector store search."""


@hookspec
def register_chunk_indexes(register: Register[ChunkIndex]) -> None:
    """Register chunk indexes: where vector stores' chunks are indexed and searched (by default, where
    the storage adapter keeps its data)."""


@hookspec
def register_sandboxes(register: Register[Sandbox]) -> None:
    """Register sandboxes: where code_interpreter runs the model's code (``supercompat.sandboxes``)."""


@hookspec
def register_tools(register: RegisterTool) -> None:
    """Register built-in tool executors (``supercompat.tools.ToolExecutor``): ``register(executor)``,
    or ``register(type, factory)`` with a ``factory()`` that builds it when an App is made."""


__all__ = ["Register", "RegisterTool", "hookimpl", "hookspec", "register_blob_stores", "register_chunk_indexes",
           "register_client_adapters", "register_embedders", "register_run_adapters", "register_sandboxes",
           "register_storage_adapters", "register_tools"]
