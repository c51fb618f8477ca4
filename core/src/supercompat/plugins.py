"""The plugin manager: built-in adapters plus every entry point in the group ``supercompat``.

``SUPERCOMPAT_LOAD_PLUGINS=a,b`` loads only those entry points (empty: none);
``SUPERCOMPAT_DISABLE_PLUGINS=a,b`` blocks those. Names are entry-point names, which by convention
equal the distribution names (``supercompat-anthropic``).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy
from pydantic import BaseModel, ConfigDict

from . import hookspecs
from .errors import ConfigError

GROUP = "supercompat"
KINDS = {"client": "register_client_adapters", "storage": "register_storage_adapters",
         "run": "register_run_adapters", "blob": "register_blob_stores",
         "embedder": "register_embedders", "index": "register_chunk_indexes", "sandbox": "register_sandboxes"}


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class AdapterSpec:
    kind: str
    name: str
    factory: Callable[[Any], Any]
    options: type[BaseModel]
    plugin: str

    def build(self, options: dict[str, Any] | BaseModel | None = None) -> Any:
        if not isinstance(options, BaseModel):
            options = self.options.model_validate(options or {})
        return self.factory(options)


def _names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {n.strip() for n in value.split(",") if n.strip()}


@functools.cache
def get_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    from . import builtins

    pm.register(builtins, name="supercompat")
    load_only = _names("SUPERCOMPAT_LOAD_PLUGINS")
    disabled = _names("SUPERCOMPAT_DISABLE_PLUGINS") or set()
    for ep in importlib.metadata.entry_points(group=GROUP):
        if ep.name in disabled or (load_only is not None and ep.name not in load_only):
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        pm.register(ep.load(), name=ep.name)
    pm.check_pending()
    return pm


def reset() -> None:
    """Forget the loaded plugins (tests change the environment variables between calls)."""
    get_plugin_manager.cache_clear()
    registry.cache_clear()
    tool_registry.cache_clear()


@functools.cache
def registry() -> dict[str, dict[str, AdapterSpec]]:
    pm = get_plugin_manager()
    found: dict[str, dict[str, AdapterSpec]] = {kind: {} for kind in KINDS}
    for kind, hook_name in KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():  # registration order
            plugin = impl.plugin_name

            def register(name: str, factory: Callable[[Any], Any], options: type[BaseModel] | None = None,
                         *, _kind: str = kind, _plugin: str = plugin) -> None:
                existing = found[_kind].get(name)
                if existing is not None:
                    raise ConfigError(f"{_kind.capitalize()} adapter '{name}' is registered by both "
                                      f"'{existing.plugin}' and '{_plugin}'.")
                found[_kind][name] = AdapterSpec(_kind, name, factory, options or NoOptions, _plugin)

            impl.function(**({"register": register} if "register" in impl.argnames else {}))
    return found


def get_adapter_spec(kind: str, name: str) -> AdapterSpec:
    specs = registry()[kind]
    spec = specs.get(name)
    if spec is None:
        installed = ", ".join(sorted(specs)) or "none"
        raise ConfigError(f"Unknown {kind} adapter '{name}'. Installed {kind} adapters: {installed}. "
                          f"To add it: pip install supercompat-{name}")
    return spec


def _itself(executor: Any) -> Any:
    """The factory of ``register(executor)``: that one instance, shared by every App."""
    return executor


@functools.cache
def tool_registry() -> dict[str, tuple[Callable[[], Any], str]]:
    """The built-in tools the plugins register: tool type -> (factory, plugin)."""
    found: dict[str, tuple[Callable[[], Any], str]] = {}
    for impl in get_plugin_manager().hook.register_tools.get_hookimpls():
        def register(executor_or_type: Any, factory: Callable[[], Any] | None = None, *,
                     _plugin: str = impl.plugin_name) -> None:
            if factory is None:
                kind, factory = executor_or_type.type, functools.partial(_itself, executor_or_type)
            else:
                kind = executor_or_type
            if kind in found:
                raise ConfigError(f"Tool '{kind}' is registered by both '{found[kind][1]}' and '{_plugin}'.")
            found[kind] = (factory, _plugin)

        impl.function(**({"register": register} if "register" in impl.argnames else {}))
    return found


def tool_executors() -> list[Any]:
    """An executor of every registered built-in tool (what an App uses by default): a new one from the
    factory of each ``register(type, factory)``, and the one instance of each ``register(executor)``,
    shared by every App."""
    return [factory() for factory, _ in tool_registry().values()]
