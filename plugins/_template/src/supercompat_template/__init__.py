"""A copy-me client adapter plugin: options, the factory and the hook (the adapter itself is in
``adapter``, the translation in ``translate``, a fake of the provider in ``testing``).

The adapter module is imported only when an adapter is made, so installing the plugin costs
nothing until ``plugin = "template"`` is chosen. See docs/plugins.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from supercompat import hookimpl
from supercompat.clients import ClientOptions
from supercompat.contracts import Register
from supercompat.providers import LazyAdapter

if TYPE_CHECKING:
    from .adapter import TemplateClientAdapter

__all__ = ["TemplateClientAdapter", "TemplateOptions", "template_client_adapter"]

# The adapter class, imported (with the SDK) when first used: see supercompat.providers.LazyAdapter.
_adapter: LazyAdapter[TemplateClientAdapter] = LazyAdapter(__name__, "TemplateClientAdapter")
__getattr__ = _adapter.module_getattr  # supercompat_template.TemplateClientAdapter


class TemplateOptions(ClientOptions):
    """The ``[client]`` section for ``plugin = "template"``; api_key, base_url and model_map come built in."""

    timeout: float = 600.0  # seconds


def template_client_adapter(template: Any, model_map: dict[str, str] | None = None) -> TemplateClientAdapter:
    """The adapter for the provider's SDK client (sync or async), used as given. ``model_map``
    renames requested models; others pass through unchanged."""
    return _adapter(template, model_map)


@hookimpl
def register_client_adapters(register: Register) -> None:
    register("template", _adapter.from_options, TemplateOptions)
