"""A copy-me client adapter plugin: options, the factory and the hook (the adapter itself is in
``adapter``, the translation in ``translate``, a fake of the provider in ``testing``).

The adapter module is imported only when an adapter is made, so installing the plugin costs
nothing until ``plugin = "template"`` is chosen. See docs/plugins.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from supercompat import hookimpl
from supercompat.clients import ClientOptions

if TYPE_CHECKING:
    from .adapter import TemplateClientAdapter

__all__ = ["TemplateOptions", "template_client_adapter"]


class TemplateOptions(ClientOptions):
    """The ``[client]`` section for ``plugin = "template"``; api_key, base_url and model_map come built in."""

    timeout: float = 600.0  # seconds


def template_client_adapter(template: Any, model_map: dict[str, str] | None = None) -> TemplateClientAdapter:
    """The adapter for the provider's SDK client (sync or async), used as given. ``model_map``
    renames requested models; others pass through unchanged."""
    from .adapter import TemplateClientAdapter

    return TemplateClientAdapter(template, model_map)


def _from_options(options: TemplateOptions) -> TemplateClientAdapter:
    from .adapter import TemplateClientAdapter

    return TemplateClientAdapter.from_options(options)


@hookimpl
def register_client_adapters(register: Any) -> None:
    register("template", _from_options, TemplateOptions)
