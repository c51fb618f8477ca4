"""The hooks a supercompat plugin can implement.

The adapter hooks receive ``register(name, factory, options=None)``: ``factory`` builds the adapter
from an instance of ``options`` (a pydantic model; the section of ``supercompat.toml`` is validated
with it) and ``name`` is what ``plugin = "<name>"`` in the configuration refers to.
``register_tools`` receives ``register(executor)`` or ``register(type, factory)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("supercompat")
hookimpl = pluggy.HookimplMarker("supercompat")

Register = Callable[..., Any]


@hookspec
def register_client_adapters(register: Register) -> None:
    """Register client adapters: providers spoken through the chat-completions lingua franca."""


@hookspec
def register_storage_adapters(register: Register) -> None:
    """Register storage adapters: where assistants, threads, messages, runs and steps live."""


@hookspec
def register_run_adapters(register: Register) -> None:
    """Register run adapters: how a run turns a thread into provider calls and events."""


@hookspec
def register_tools(register: Register) -> None:
    """Register built-in tool executors (``supercompat.tools.ToolExecutor``): ``register(executor)``,
    or ``register(type, factory)`` with a ``factory()`` that builds it when an App is made."""
