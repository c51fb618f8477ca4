"""supercompat client adapter for OpenAI chat completions, and every endpoint that speaks them.

The chat-completions shapes are supercompat's lingua franca, so this adapter passes requests and
chunks through (see ``adapter``); the shell it stands on (:mod:`supercompat.providers`) owns sync/async
bridging, ownership and error mapping.
"""

from __future__ import annotations

from typing import Any

# Core already imports openai, so importing the adapter (and the SDK) here costs nothing extra.
import openai

from supercompat import hookimpl
from supercompat.clients import ClientOptions

from .adapter import OpenAIClientAdapter

__all__ = ["OpenAIClientAdapter", "OpenAIOptions", "openai_client_adapter"]


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
    return OpenAIClientAdapter(openai, model_map)


@hookimpl
def register_client_adapters(register: Any) -> None:
    register("openai", OpenAIClientAdapter.from_options, OpenAIOptions)
