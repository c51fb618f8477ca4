"""supercompat client adapter for OpenAI chat completions, and every endpoint that speaks them.

The chat-completions shapes are supercompat's lingua franca, so this adapter passes requests and
chunks through (see ``adapter``); the shell it stands on (:mod:`supercompat.providers`) owns sync/async
bridging, ownership and error mapping. The adapter module is imported when an adapter is made, as
every client plugin's is (core imports the openai SDK anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from supercompat import hookimpl
from supercompat.clients import ClientOptions
from supercompat.contracts import Register
from supercompat.providers import LazyAdapter

if TYPE_CHECKING:
    import openai

    from .adapter import OpenAIClientAdapter

__all__ = ["OpenAIClientAdapter", "OpenAIOptions", "openai_client_adapter"]

_adapter: LazyAdapter[OpenAIClientAdapter] = LazyAdapter(__name__, "OpenAIClientAdapter")
__getattr__ = _adapter.module_getattr


class OpenAIOptions(ClientOptions):
    """The ``[client]`` section for ``plugin = "openai"``; unset values keep the openai SDK defaults
    (``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` from the environment, 600 s timeout, 2 retries)."""

    organization: str | None = None
    project: str | None = None
    timeout: float | None = None
    max_retries: int | None = None


def openai_client_adapter(openai: openai.OpenAI | openai.AsyncOpenAI,
                          model_map: dict[str, str] | None = None) -> OpenAIClientAdapter:
    """The adapter for an openai SDK client, used as given: its ``base_url``, key, timeout and
    retries apply (point ``base_url`` at any OpenAI-compatible endpoint). ``model_map`` renames
    requested models (``{"gpt-4.1-mini": "llama-3.3-70b"}``); others pass through unchanged."""
    return _adapter(openai, model_map)


@hookimpl
def register_client_adapters(register: Register) -> None:
    register("openai", _adapter.from_options, OpenAIOptions)
