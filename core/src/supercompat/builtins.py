"""The adapters that ship with core, registered like any plugin's."""

from __future__ import annotations

from typing import Any

from .hookspecs import hookimpl


@hookimpl
def register_storage_adapters(register: Any) -> None:
    from .storage import memory_storage_adapter

    register("memory", lambda options: memory_storage_adapter())
