"""supercompat client adapter for Mistral, through the official ``mistralai`` SDK.

The SDK is imported only when an adapter is built, so having this plugin installed costs nothing
until ``plugin = "mistral"`` is chosen. The adapter is in :mod:`.adapter`, the translation in
:mod:`.translate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from supercompat import hookimpl
from supercompat.clients import ClientOptions
from supercompat.contracts import Register
from supercompat.providers import LazyAdapter

if TYPE_CHECKING:
    from .adapter import MistralClientAdapter

__all__ = ["MistralClientAdapter", "MistralOptions", "mistral_client_adapter"]

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
