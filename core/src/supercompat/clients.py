"""The ClientAdapter contract: one provider, spoken in OpenAI chat-completions shapes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

# Plugins handed a sync provider SDK run its calls and streams through these (re-exported here so
# plugins depend on a public name).
from ._threads import call_in_thread, iterate_in_thread

__all__ = ["ClientAdapter", "ClientOptions", "map_model", "call_in_thread", "forget_pooled_connections",
           "iterate_in_thread", "on_core_loop"]


@runtime_checkable
class ClientAdapter(Protocol):
    """``params`` is a ``chat.completions.create`` body (a dict). Results are dicts shaped like
    ``ChatCompletion`` / ``ChatCompletionChunk``. Provider failures are raised as
    :class:`supercompat.errors.APIError` with the OpenAI status that matches.

    An adapter that created its provider client (from configuration) also defines
    ``async def aclose()``, called when the App closes; a client passed in stays the caller's.

    An adapter that keeps connections or loop-bound objects defines ``after_fork()``: the App calls it
    in a forked child, where it drops them (unclosed: they are the parent's) so the child opens its own;
    see :func:`forget_pooled_connections`."""

    async def chat_completions(self, params: dict[str, Any]) -> dict[str, Any]: ...

    def chat_completions_stream(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...

    async def list_models(self) -> list[dict[str, Any]]: ...


class ClientOptions(BaseModel):
    """Options every client plugin's ``[client]`` section accepts; plugins subclass it."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = None
    base_url: str | None = None
    model_map: dict[str, str] = Field(default_factory=dict)


def map_model(model_map: dict[str, str], model: str) -> str:
    """The provider's name for ``model``: its ``model_map`` entry, else ``model`` unchanged."""
    return model_map.get(model, model) if model_map else model


def on_core_loop() -> bool:
    """Whether the caller runs on the loop supercompat runs its adapters on, which lives as long as
    the process: where an adapter may keep loop-bound clients (an async twin of a sync SDK client)."""
    from . import loop as _loop

    try:
        return asyncio.get_running_loop() is _loop._loop
    except RuntimeError:
        return False


def forget_pooled_connections(http_client: Any) -> None:
    """For an adapter's ``after_fork()``: an httpx2 client's pooled keep-alive connections (a provider
    SDK's) are sockets the parent goes on using, and a TLS stream that two processes write to is garbage
    to both. The child keeps them unused and unclosed, and opens its own. A no-op for anything else."""
    from .loop import keep_inherited

    transports = [getattr(http_client, "_transport", None), *getattr(http_client, "_mounts", {}).values()]
    for transport in transports:
        pool: Any = getattr(transport, "_pool", None)
        if not isinstance(getattr(pool, "_connections", None), list):
            continue
        keep_inherited(pool._connections, getattr(pool, "_requests", None))
        pool._connections, pool._requests = [], []
        lock = getattr(pool, "_optional_thread_lock", None)
        if lock is not None:  # may have been held, at the fork, by a thread the child doesn't have
            pool._optional_thread_lock = type(lock)()
