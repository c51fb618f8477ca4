"""The adapters that ship with core, registered like any plugin's."""

from __future__ import annotations

from typing import Any

from .hookspecs import hookimpl


@hookimpl
def register_storage_adapters(register: Any) -> None:
    from .storage import memory_storage_adapter

    register("memory", lambda options: memory_storage_adapter())


@hookimpl
def register_run_adapters(register: Any) -> None:
    from .runs import completions_run_adapter

    register("completions", lambda options: completions_run_adapter())


@hookimpl
def register_client_adapters(register: Any) -> None:
    from .scripted import ScriptedOptions, scripted_client_adapter

    register("scripted", lambda options: scripted_client_adapter(options.script()), ScriptedOptions)


@hookimpl
def register_blob_stores(register: Any) -> None:
    from .blobs import memory_blob_store
    from .blobs_filesystem import FilesystemOptions, filesystem_blob_store

    register("memory", lambda options: memory_blob_store())
    register("filesystem", lambda options: filesystem_blob_store(**options.model_dump()), FilesystemOptions)


@hookimpl
def register_embedders(register: Any) -> None:
    from .embedders import HashingOptions, hashing_embedder

    register("hashing", lambda options: hashing_embedder(options.dimensions), HashingOptions)


@hookimpl
def register_chunk_indexes(register: Any) -> None:
    from .search_memory import memory_chunk_index

    register("memory", lambda options: memory_chunk_index())


@hookimpl
def register_sandboxes(register: Any) -> None:
    from .sandbox_bubblewrap import BubblewrapOptions, bubblewrap_sandbox

    register("bubblewrap", bubblewrap_sandbox, BubblewrapOptions)


@hookimpl
def register_tools(register: Any) -> None:
    from .code_interpreter import code_interpreter_tool
    from .file_search import file_search_tool

    register("file_search", file_search_tool)
    register("code_interpreter", code_interpreter_tool)  # one per App: it keeps the App's sessions
