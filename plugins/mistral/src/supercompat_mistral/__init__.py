"""supercompat client adapter for Mistral, through the official ``mistralai`` SDK.

The SDK is imported only when an adapter is built, so having this plugin installed costs nothing
until ``plugin = "mistral"`` is chosen. The adapter is in :mod:`.adapter`, the translation in
:mod:`.translate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from supercompat import hookimpl
from supercompat.clients import ClientOptions

if TYPE_CHECKING:
    from .adapter import MistralClientAdapter

__all__ = ["MistralClientAdapter", "MistralOptions", "mistral_client_adapter"]


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
    from .adapter import MistralClientAdapter

    return MistralClientAdapter(mistral, model_map, use_async=use_async)


def _from_options(options: MistralOptions) -> MistralClientAdapter:
    from .adapter import MistralClientAdapter

    return MistralClientAdapter.from_options(options)


def __getattr__(name: str) -> Any:
    if name == "MistralClientAdapter":
        from .adapter import MistralClientAdapter

        return MistralClientAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def register_client_adapters(register: Any) -> None:
    register("mistral", _from_options, MistralOptions)
