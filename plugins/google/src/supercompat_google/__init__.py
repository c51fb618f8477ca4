"""supercompat client adapter for Google Gemini, through the official google-genai SDK.

Chat-completions requests become ``generateContent`` / ``streamGenerateContent`` calls and Gemini's
answers come back as chat completions and chunks (see ``translate``). The SDK is imported only when
an adapter is made, so installing this plugin costs nothing until it is chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from supercompat import hookimpl
from supercompat.clients import ClientOptions
from supercompat.contracts import Register
from supercompat.providers import LazyAdapter

if TYPE_CHECKING:
    from .adapter import GoogleClientAdapter

__all__ = ["GoogleClientAdapter", "GoogleOptions", "google_client_adapter"]

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
