"""The ClientAdapter contract: one provider, spoken in OpenAI chat-completions shapes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

# Plugins handed a sync provider SDK run its calls and streams through these (re-exported here so
# plugins depend on a public name).
from ._threads import call_in_thread, iterate_in_thread

__all__ = ["ClientAdapter", "ClientOptions", "map_model", "call_in_thread", "iterate_in_thread", "on_core_loop"]


@runtime_checkable
class ClientAdapter(Protocol):
    """``params`` is a ``chat.completions.create`` body (a dict). Results are dicts shaped like
    ``ChatCompletion`` / ``ChatCompletionChunk``. Provider failures are raised as
    :class:`supercompat.errors.APIError` with the OpenAI status that matches.

    An adapter that created its provider client (from configuration) also defines
    ``async def aclose()``, called when the App closes; a client passed in stays the caller's."""

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
    from . import _loop

    try:
        return asyncio.get_running_loop() is _loop._loop
    except RuntimeError:
        return False
