"""supercompat client adapter for Anthropic's Claude, through the Messages API.

Chat-completions requests are translated to Messages API requests and Claude's answers back, both
streaming and not (see ``translate``). The anthropic SDK is imported only when an adapter is made,
so having this plugin installed costs nothing until it is chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from supercompat import hookimpl
from supercompat.clients import ClientOptions
from supercompat.contracts import Register
from supercompat.providers import LazyAdapter

if TYPE_CHECKING:
    import anthropic

    from .adapter import AnthropicClientAdapter

__all__ = ["AnthropicClientAdapter", "AnthropicOptions", "anthropic_client_adapter"]

_adapter: LazyAdapter[AnthropicClientAdapter] = LazyAdapter(__name__, "AnthropicClientAdapter")
__getattr__ = _adapter.module_getattr


class AnthropicOptions(ClientOptions):
    """The ``[client]`` section for ``plugin = "anthropic"``; unset values keep the anthropic SDK
    defaults (``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL`` from the environment, 600 s timeout,
    2 retries). ``max_tokens`` is sent when a request sets no limit (default: per model)."""

    max_tokens: int | None = Field(default=None, gt=0)
    timeout: float | None = None
    max_retries: int | None = None


def anthropic_client_adapter(anthropic: anthropic.Anthropic | anthropic.AsyncAnthropic,
                             model_map: dict[str, str] | None = None,
                             max_tokens: int | None = None) -> AnthropicClientAdapter:
    """The adapter for an anthropic SDK client, used as given: its ``base_url``, key, timeout and
    retries apply. ``model_map`` renames requested models (``{"gpt-4.1-mini": "claude-sonnet-4-6"}``);
    others pass through unchanged. ``max_tokens`` is the limit sent when a request has none."""
    return _adapter(anthropic, model_map, max_tokens)


@hookimpl
def register_client_adapters(register: Register) -> None:
    register("anthropic", _adapter.from_options, AnthropicOptions)
