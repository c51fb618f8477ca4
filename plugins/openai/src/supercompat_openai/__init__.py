"""supercompat client adapter for OpenAI chat completions, and every endpoint that speaks them.

The chat-completions shapes are supercompat's lingua franca, so this adapter passes requests and
chunks through (see ``adapter``); the shell it stands on (:mod:`supercompat.providers`) owns sync/async
bridging, ownership and error mapping. The adapter module is imported when an adapter is made, as
every client plugin's is (core imports the openai SDK anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from supercompat import hookimpl
from supercompat.clients import ClientOptions
from supercompat.contracts import Register
from supercompat.providers import LazyAdapter

if TYPE_CHECKING:
    import openai

    from .adapter import OpenAIClientAdapter
    from .embedder import OpenAIEmbedder

__all__ = ["OpenAIClientAdapter", "OpenAIEmbedderOptions", "OpenAIOptions", "openai_client_adapter",
           "openai_embedder"]

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


class OpenAIEmbedderOptions(BaseModel):
    """The ``[embedder]`` section for ``plugin = "openai"``: OpenAI's embeddings, or any
    OpenAI-compatible endpoint's (``base_url``). ``dimensions`` is needed for models other than
    OpenAI's own; for ``text-embedding-3-*`` a smaller value shortens the vectors."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = None
    base_url: str | None = None
    organization: str | None = None
    project: str | None = None
    timeout: float | None = None
    max_retries: int | None = None
    model: str = "text-embedding-3-small"
    dimensions: int | None = Field(None, ge=1)
    max_input_chars: int = Field(8000, ge=1)
    batch_size: int = Field(256, ge=1, le=2048)


def openai_embedder(client: openai.AsyncOpenAI, model: str = "text-embedding-3-small",
                    dimensions: int | None = None, **options: Any) -> OpenAIEmbedder:
    """An embedder over an ``openai.AsyncOpenAI`` (its ``base_url``, key, timeout and retries apply),
    used as given: closing the embedder leaves the client open. ``options``: ``max_input_chars``,
    ``batch_size``."""
    from .embedder import OpenAIEmbedder

    return OpenAIEmbedder(client, model, dimensions, **options)


def _embedder_from_options(options: OpenAIEmbedderOptions) -> OpenAIEmbedder:
    import openai

    from supercompat.errors import ConfigError

    from .embedder import OpenAIEmbedder, check_model

    check_model(options.model, options.dimensions)  # before a client is opened, so none is left open
    given = {k: v for k in ("api_key", "base_url", "organization", "project", "timeout", "max_retries")
             if (v := getattr(options, k)) is not None}
    try:
        client = openai.AsyncOpenAI(**given)
    except openai.OpenAIError as error:  # no api_key and no OPENAI_API_KEY
        raise ConfigError(f"[embedder] plugin = \"openai\": {error}") from error
    return OpenAIEmbedder(client, options.model, options.dimensions,
                          max_input_chars=options.max_input_chars, batch_size=options.batch_size,
                          owns_client=True)


@hookimpl
def register_embedders(register: Register) -> None:
    register("openai", _embedder_from_options, OpenAIEmbedderOptions)
