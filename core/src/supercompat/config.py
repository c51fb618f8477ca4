"""``supercompat.toml`` -> adapters. Values may be literals or ``{ env = "VAR" }``."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .plugins import get_adapter_spec

SECTIONS = {"client": "client", "storage": "storage", "run": "run"}
DEFAULT_PLUGINS = {"storage": "memory", "run": "completions"}


class ServerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    api_keys: list[str] = Field(default_factory=list)
    allow_unauthenticated_public_bind: bool = False


def resolve_env(value: Any, where: str) -> Any:
    """Replace every ``{ env = "VAR" }`` inside ``value`` with the variable's value."""
    if isinstance(value, dict):
        if set(value) == {"env"}:
            var = value["env"]
            if var not in os.environ:
                raise ConfigError(f"Environment variable {var} is not set (needed by {where}).")
            return os.environ[var]
        return {k: resolve_env(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _validate(model: type[BaseModel], data: dict[str, Any], where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            valid = ", ".join(model.model_fields) or "none"
            raise ConfigError(f"Unknown option '{key}' in {where}. Valid options: {valid}.") from None
        raise ConfigError(f"Invalid option '{key}' in {where}: {err['msg']}.") from None


def read_config(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    if path is None:
        path = os.environ.get("SUPERCOMPAT_CONFIG", "supercompat.toml")
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"Configuration file {path} not found.") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"Configuration file {path} is not valid TOML: {e}.") from None
    for section in data:
        if section not in (*SECTIONS, "server"):
            raise ConfigError(f"Unknown section [{section}] in {path}. Valid sections: client, storage, "
                              f"run, server.")
    return data


def build_adapter(kind: str, section: dict[str, Any] | None) -> Any:
    section = dict(section or {})
    name = section.pop("plugin", None) or DEFAULT_PLUGINS.get(kind)
    if name is None:
        return None
    spec = get_adapter_spec(kind, name)
    where = f"[{kind}] (plugin '{name}')"
    options = _validate(spec.options, resolve_env(section, f"[{kind}]"), where)
    return spec.build(options)


def load_adapters(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The keyword arguments for ``supercompat()`` that the configuration describes."""
    data = read_config(path)
    _server_options(data)  # validated here too, so a typo in [server] never passes silently
    adapters = {}
    for kind in SECTIONS:
        if kind == "run" and "run" not in data:
            from .plugins import registry

            if "completions" not in registry()["run"]:
                continue
        adapters[f"{kind}_adapter"] = build_adapter(kind, data.get(kind))
    return adapters


def _server_options(data: dict[str, Any]) -> ServerOptions:
    return _validate(ServerOptions, resolve_env(data.get("server", {}), "[server]"), "[server]")  # type: ignore[return-value]
