"""supercompat client adapter and embedder for Mistral, through the official ``mistralai`` SDK.

The SDK is imported only when an adapter or an embedder is built, so having this plugin installed
costs nothing until ``plugin = "mistral"`` is chosen. The adapter is in :mod:`.adapter`, the
translation in :mod:`.translate`, the embedder (``[embedder] plugin = "mistral"``) in :mod:`.embedder`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from supercompat import hookimpl
from supercompat.clients import ClientOptions
from supercompat.contracts import Register
from supercompat.providers import LazyAdapter

if TYPE_CHECKING:
    from .adapter import MistralClientAdapter
    from .embedder import MistralEmbedder

__all__ = ["MistralClientAdapter", "MistralEmbedderOptions", "MistralOptions", "mistral_client_adapter",
           "mistral_embedder"]

_adapter: LazyAdapter[MistralClientAdapter] = LazyAdapter(__name__, "MistralClientAdapter")
__getattr__ = _adapter.module_getattr


class MistralOptions(ClientOptions):
    """The ``[client]`` section for ``plugin = "mistral"``. ``base_url`` is another name for
    ``server_url`` (the host, without ``/v1``); unset values keep the SDK's defaults
    (``MISTRAL_API_KEY``, ``https://api.mistral.ai``, no retries)."""

    server_url: str | None = None
    server: Literal["global", "eu", "us"] | None = None
    timeout: float | None = None  # seconds


def mistral_client_adapter(mistral: Any, model_map: dict[str, str] | None = None, *,
                           use_async: bool | None = None) -> MistralClientAdapter:
    """The adapter for a ``mistralai.client.Mistral``, used as given: its ``server_url``, key,
    http clients, timeout and retries apply. Its async methods are used unless it was built with
    only a sync ``client=`` (or ``use_async=False``). ``model_map`` renames requested models
    (``{"gpt-4.1-mini": "mistral-small-latest"}``); others pass through unchanged."""
    return _adapter(mistral, model_map, use_async=use_async)


@hookimpl
def register_client_adapters(register: Register) -> None:
    register("mistral", _adapter.from_options, MistralOptions)


class MistralEmbedderOptions(BaseModel):
    """The ``[embedder]`` section for ``plugin = "mistral"``: Mistral's embeddings. The connection
    options are the ``[client]`` section's; ``dimensions`` is needed for models other than
    mistral-embed and codestral-embed, and for codestral-embed another value (up to 3072) is sent as
    ``output_dimension``."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = None
    base_url: str | None = None
    server_url: str | None = None
    server: Literal["global", "eu", "us"] | None = None
    timeout: float | None = None  # seconds
    model: str = "mistral-embed"
    dimensions: int | None = Field(None, ge=1)
    batch_size: int = Field(128, ge=1, le=512)


def mistral_embedder(mistral: Any, model: str = "mistral-embed", dimensions: int | None = None, *,
                     use_async: bool | None = None, **options: Any) -> MistralEmbedder:
    """An embedder over a ``mistralai.client.Mistral``, used as given (its ``server_url``, key, http
    clients, timeout and retries apply): closing the embedder leaves the client open. Its async methods
    are used unless it was built with only a sync ``client=`` (or ``use_async=False``). ``options``:
    ``batch_size``."""
    from .adapter import MistralClientAdapter
    from .embedder import MistralEmbedder

    return MistralEmbedder(MistralClientAdapter(mistral, use_async=use_async), model, dimensions, **options)


def _embedder_from_options(options: MistralEmbedderOptions) -> MistralEmbedder:
    from .adapter import MistralClientAdapter
    from .embedder import MistralEmbedder, check_model

    check_model(options.model, options.dimensions)  # before a client is opened, so none is left open
    client = MistralClientAdapter.open_client_for("embedder", options)
    return MistralEmbedder(MistralClientAdapter(client, use_async=True, owns_client=True), options.model,
                           options.dimensions, batch_size=options.batch_size)


@hookimpl
def register_embedders(register: Register) -> None:
    register("mistral", _embedder_from_options, MistralEmbedderOptions)
