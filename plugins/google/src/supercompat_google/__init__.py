"""supercompat client adapter and embedder for Google Gemini, through the official google-genai SDK.

Chat-completions requests become ``generateContent`` / ``streamGenerateContent`` calls and Gemini's
answers come back as chat completions and chunks (see ``translate``); the embedder (``[embedder]
plugin = "google"``) is in ``embedder``. The SDK is imported only when an adapter or an embedder is
made, so installing this plugin costs nothing until it is chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from supercompat import hookimpl
from supercompat.clients import ClientOptions
from supercompat.contracts import Register
from supercompat.providers import LazyAdapter

if TYPE_CHECKING:
    from .adapter import GoogleClientAdapter
    from .embedder import GoogleEmbedder

__all__ = ["GoogleClientAdapter", "GoogleEmbedderOptions", "GoogleOptions", "google_client_adapter",
           "google_embedder"]

_adapter: LazyAdapter[GoogleClientAdapter] = LazyAdapter(__name__, "GoogleClientAdapter")
__getattr__ = _adapter.module_getattr


class GoogleOptions(ClientOptions):
    """The ``[client]`` section for ``plugin = "google"``. Unset values keep the SDK's defaults
    (``GOOGLE_API_KEY`` / ``GEMINI_API_KEY`` from the environment, the SDK's ``api_version``).
    ``vertexai``, ``project`` and ``location`` reach Vertex AI (credentials from the environment)."""

    api_version: str | None = None
    vertexai: bool | None = None
    project: str | None = None
    location: str | None = None
    timeout: float | None = None  # seconds


def google_client_adapter(google: Any, model_map: dict[str, str] | None = None) -> GoogleClientAdapter:
    """The adapter for a ``google.genai.Client`` (its sync methods, run in worker threads) or its
    ``.aio`` async client, used as given: its key, ``http_options`` (base_url, api_version, timeout,
    retries) and Vertex settings apply. ``model_map`` renames requested models
    (``{"gpt-4.1-mini": "gemini-2.5-flash"}``); others pass through unchanged."""
    return _adapter(google, model_map)


@hookimpl
def register_client_adapters(register: Register) -> None:
    register("google", _adapter.from_options, GoogleOptions)


class GoogleEmbedderOptions(BaseModel):
    """The ``[embedder]`` section for ``plugin = "google"``: Gemini's embeddings. The connection options
    are the ``[client]`` section's; ``dimensions`` is needed for models other than gemini-embedding-001
    and text-embedding-004, and for those a smaller value shortens the vectors."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = None
    base_url: str | None = None
    api_version: str | None = None
    vertexai: bool | None = None
    project: str | None = None
    location: str | None = None
    timeout: float | None = None  # seconds
    model: str = "gemini-embedding-001"
    dimensions: int | None = Field(None, ge=1)
    max_input_tokens: int = Field(2048, ge=1)
    batch_size: int = Field(100, ge=1, le=100)


def google_embedder(google: Any, model: str = "gemini-embedding-001", dimensions: int | None = None,
                    **options: Any) -> GoogleEmbedder:
    """An embedder over a ``google.genai.Client`` (its sync methods, run in worker threads) or its
    ``.aio`` async client, used as given: closing the embedder leaves the client open. ``options``:
    ``max_input_tokens``, ``batch_size``."""
    from .adapter import GoogleClientAdapter
    from .embedder import GoogleEmbedder

    return GoogleEmbedder(GoogleClientAdapter(google), model, dimensions, **options)


def _embedder_from_options(options: GoogleEmbedderOptions) -> GoogleEmbedder:
    from .adapter import GoogleClientAdapter
    from .embedder import GoogleEmbedder, check_model

    check_model(options.model, options.dimensions)  # before a client is opened, so none is left open
    client = GoogleClientAdapter.open_client_for("embedder", options)
    return GoogleEmbedder(GoogleClientAdapter(client, owns_client=True), options.model, options.dimensions,
                          max_input_tokens=options.max_input_tokens, batch_size=options.batch_size)


@hookimpl
def register_embedders(register: Register) -> None:
    register("google", _embedder_from_options, GoogleEmbedderOptions)
