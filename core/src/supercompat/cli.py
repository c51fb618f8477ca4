"""The ``supercompat`` command. Each subcommand is a function taking the parsed arguments and
returning the exit code; a new group (``db``, say) is one more ``sub.add_parser`` in ``main``."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import sys
import warnings
from typing import Any

from .errors import APIError, ConfigError

CONFIG_HELP = "the configuration file (default: $SUPERCOMPAT_CONFIG, else ./supercompat.toml)"


def _version(spec: Any) -> str:
    try:
        return importlib.metadata.version(spec.plugin)
    except importlib.metadata.PackageNotFoundError:
        return ""


def _plugins(args: argparse.Namespace) -> int:
    from types import SimpleNamespace

    from .plugins import registry, tool_registry

    for kind, specs in registry().items():
        print(f"{kind} adapters:")
        for name, spec in sorted(specs.items()):
            print(f"  {name:<16} {spec.plugin} {_version(spec)}".rstrip())
    print("built-in tools:")
    for name, (_, plugin) in sorted(tool_registry().items()):
        print(f"  {name:<16} {plugin} {_version(SimpleNamespace(plugin=plugin))}".rstrip())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def _db_upgrade(args: argparse.Namespace) -> int:
    from .config import build_adapter, read_config
    from .loop import run_sync

    section = {"plugin": "sqlalchemy", "url": args.url} if args.url else read_config(args.config).get("storage")
    storage = build_adapter("storage", section)
    migrate = getattr(storage, "migrate", None)
    if migrate is None:
        print(f"The {type(storage).__name__} keeps no schema: nothing to upgrade.")
        return 0
    try:
        before, after = run_sync(migrate())
    finally:
        run_sync(storage.close())
    where = getattr(storage, "url", "the database")
    if before == after:
        print(f"{where}: schema already at revision {after}.")
    else:
        print(f"{where}: schema upgraded from {before or 'nothing'} to revision {after}.")
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: F401

        from .server import serve
    except ImportError:
        raise ConfigError("The server needs its extra: pip install 'supercompat[server]'") from None
    serve(args.config, host=args.host, port=args.port, workers=args.workers, ui=False if args.no_ui else None)
    return 0


# The sections that may name no plugin, and what the App does then.
_WITHOUT_PLUGIN = {
    "blob": "files go where the storage adapter keeps them (see docs/blob-stores.md)",
    "embedder": "embeddings requests are refused and search is keyword-only (see docs/embedders.md)",
    "index": "chunks are searched where the storage adapter keeps its data (see docs/search-indexes.md)",
    "sandbox": "code_interpreter uses bubblewrap if bwrap is installed, else fails its runs "
               "(see docs/sandboxes.md)",
}


def _check(args: argparse.Namespace) -> int:
    """Resolve and build every adapter the configuration names, reporting each section's outcome."""
    from .config import DEFAULT_PLUGINS, SECTIONS, build_adapter, read_config, server_options
    from .plugins import get_adapter_spec

    data = read_config(args.config)
    problems = 0

    def report(section: str, ok: bool, text: str) -> None:
        nonlocal problems
        problems += not ok
        print(f"[{section}] ".ljust(10) + ("ok       " if ok else "PROBLEM  ") + text)

    for kind in SECTIONS:
        section = data.get(kind) or {}
        name = section.get("plugin") or DEFAULT_PLUGINS.get(kind)
        if name is None and kind in _WITHOUT_PLUGIN:
            report(kind, True, f"none named: {_WITHOUT_PLUGIN[kind]}")
            continue
        if name is None:
            report(kind, False, "no plugin: runs and chat completions need one "
                                "(for example plugin = \"openai\"; `supercompat plugins` lists what is installed)")
            continue
        try:
            adapter = build_adapter(kind, section)
        except ConfigError as e:
            report(kind, False, str(e))
            continue
        spec = get_adapter_spec(kind, name)
        report(kind, True, f"{name} ({spec.plugin} {_version(spec)})".replace(" )", ")"))
        asyncio.run(_close(kind, adapter))
    try:
        options = server_options(data)
        from .server import check_options

        check_options(options, (data.get("storage") or {}).get("plugin", "memory"))
    except ConfigError as e:
        report("server", False, str(e))
    except ImportError:
        report("server", False, "the server needs its extra: pip install 'supercompat[server]'")
    else:
        keys = len(options.api_keys)
        report("server", True, f"{options.host}:{options.port}, {options.workers} worker(s), "
                               f"{keys or 'no'} API key{'' if keys == 1 else 's'}")
    if problems:
        print(f"supercompat: {problems} problem{'s' if problems > 1 else ''} in {args.config or 'the configuration'}",
              file=sys.stderr)
        return 2
    return 0


async def _close(kind: str, adapter: Any) -> None:
    closing = "close" if kind in ("storage", "embedder", "index", "sandbox") else "aclose"
    close = getattr(adapter, closing, None)
    if close is not None:
        await close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="supercompat", description="The OpenAI Assistants API v2 on any LLM provider: in process, "
                                        "or over HTTP for apps in any language.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("serve", help="serve the Assistants API over HTTP (needs supercompat[server])",
                       description="Serve the Assistants API under /v1, with the adapters and [server] "
                                   "section of the configuration, and the dashboard at /ui. Point any "
                                   "OpenAI SDK's base_url at http://HOST:PORT/v1.")
    p.add_argument("--config", help=CONFIG_HELP)
    p.add_argument("--host", help="address to bind (default: [server] host, else 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to bind, 0 for any free one (default: [server] port, else 8000)")
    p.add_argument("--workers", type=int, help="worker processes; more than one needs SQL storage "
                                               "(default: [server] workers, else 1)")
    p.add_argument("--no-ui", action="store_true",
                   help="don't serve the dashboard at /ui (default: [server] ui, else on)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("demo", help="run the full assistants flow and print what happens",
                       description="An assistant with a function tool, a thread, a streamed run and the "
                                   "tool round trip, through the real openai SDK.")
    p.add_argument("--config", help=CONFIG_HELP)
    p.add_argument("--db", default="sqlite:///supercompat-demo.db",
                   help="where to keep state: a database URL (needs supercompat-sqlalchemy) or 'memory' "
                        "(default: %(default)s)")
    p.set_defaults(func=_demo)

    p = sub.add_parser("plugins", help="list installed adapters by kind, and built-in tools, with package and version")
    p.set_defaults(func=_plugins)

    p = sub.add_parser("check", help="validate the configuration and resolve every plugin it names",
                       description="Read the configuration, build each adapter it names and check the "
                                   "[server] section; for anything missing, say what to pip install.")
    p.add_argument("--config", help=CONFIG_HELP)
    p.set_defaults(func=_check)

    p = sub.add_parser("db", help="the storage database's schema")
    db = p.add_subparsers(dest="db_command", required=True)
    p = db.add_parser("upgrade", help="migrate the configured storage's database to the current schema",
                      description="Apply the storage plugin's migrations (Alembic for sqlalchemy). Stop the "
                                  "processes using the database first.")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--config", help=CONFIG_HELP)
    source.add_argument("--url", help="a database URL to upgrade with the sqlalchemy storage")
    p.set_defaults(func=_db_upgrade)

    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="openai")
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"supercompat: {e}", file=sys.stderr)
        return 2
    except APIError as e:  # e.g. the database is unreachable (str(): with where, for the operator)
        print(f"supercompat: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
