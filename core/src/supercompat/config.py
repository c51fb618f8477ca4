"""``supercompat.toml`` -> adapters. Values may be literals or ``{ env = "VAR" }``."""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .plugins import get_adapter_spec

SECTIONS = {"client": "client", "storage": "storage", "run": "run", "blob": "blob", "embedder": "embedder",
            "index": "index", "sandbox": "sandbox"}
# The keyword argument of App (and supercompat()) each section's adapter is passed as.
APP_ARGUMENTS = {"client": "client_adapter", "storage": "storage_adapter", "run": "run_adapter",
                 "blob": "blob_store", "embedder": "embedder", "index": "chunk_index", "sandbox": "sandbox"}
DEFAULT_PLUGINS = {"storage": "memory", "run": "completions"}


class ApiKey(BaseModel):
    """An ``[server] api_keys`` item: a plain string, or a table naming the project its objects
    belong to; keys naming the same project see the same objects (that is how a key is rotated)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1)  # an empty key would let an empty bearer token in
    project: str | None = Field(None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        return {"key": value} if isinstance(value, str) else value


class ServerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    api_keys: list[ApiKey] = Field(default_factory=list)
    allow_unauthenticated_public_bind: bool = False
    max_request_bytes: int = Field(16 * 1024 * 1024, ge=1)
    shutdown_grace_seconds: float = Field(10.0, ge=0)
    # Connections (see docs/server.md): what a client that holds one open without a request may cost.
    max_connections: int = Field(1000, ge=1)
    header_timeout_seconds: float = Field(10.0, gt=0)
    body_timeout_seconds: float = Field(60.0, gt=0)
    keep_alive_timeout_seconds: float = Field(5.0, gt=0)
    # Host values accepted; None: with no api_keys on a loopback bind, loopback names only.
    allowed_hosts: list[str] | None = None
    # Browser origins allowed (CORS), e.g. "https://app.example.com"; "*" for any. Empty: CORS off.
    cors_allowed_origins: list[str] = Field(default_factory=list)
    cors_max_age_seconds: int = Field(600, ge=0)
    # The dashboard at /ui (docs/dashboard.md): its pages hold no data, they call /v1 with a key.
    ui: bool = True

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            scheme, sep, rest = origin.partition("://")
            if origin != "*" and (not sep or scheme not in ("http", "https") or not rest or "/" in rest):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], without a path) nor \"*\"")
        return [origin.lower() for origin in origins]

    def key_projects(self) -> dict[str, str | None]:
        """Each API key and the project it creates and sees objects in: the project it names; for a
        plain key, none (unscoped, as in process) when it is the only key, else one of its own."""
        projects: dict[str, str | None] = {}
        for item in self.api_keys:
            if item.project is not None:
                projects[item.key] = item.project
            elif len(self.api_keys) == 1:
                projects[item.key] = None
            else:
                projects[item.key] = "key-" + hashlib.sha256(item.key.encode()).hexdigest()[:16]
        return projects


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
            if len(err["loc"]) > 1:  # inside a table: the top-level options would mislead
                raise ConfigError(f"Unknown option '{key}' in {where}.") from None
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
                              f"run, blob, embedder, index, sandbox, server.")
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
    return adapters_from(read_config(path))


def adapters_from(data: dict[str, Any]) -> dict[str, Any]:
    """``load_adapters`` for a configuration already read."""
    server_options(data)  # validated here too, so a typo in [server] never passes silently
    adapters = {}
    for kind in SECTIONS:
        if kind == "run" and "run" not in data:
            from .plugins import registry

            if "completions" not in registry()["run"]:
                continue
        adapters[APP_ARGUMENTS[kind]] = build_adapter(kind, data.get(kind))
    return adapters


def server_options(data: dict[str, Any]) -> ServerOptions:
    return _validate(ServerOptions, resolve_env(data.get("server", {}), "[server]"), "[server]")  # type: ignore[return-value]
