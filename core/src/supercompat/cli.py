"""The ``supercompat`` command."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import warnings

from .errors import APIError, ConfigError


def _plugins(args: argparse.Namespace) -> int:
    from .plugins import registry

    versions = {}
    for dist in importlib.metadata.distributions():
        versions[dist.metadata["Name"]] = dist.version
    for kind, specs in registry().items():
        print(f"{kind} adapters:")
        for name, spec in sorted(specs.items()):
            package = "supercompat" if spec.plugin == "supercompat" else spec.plugin
            print(f"  {name:<16} {package} {versions.get(package, '')}".rstrip())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def _db_upgrade(args: argparse.Namespace) -> int:
    from ._loop import run_sync
    from .config import build_adapter, read_config

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="supercompat", description="The OpenAI Assistants API on any provider.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run the full assistants flow and print what happens")
    p.add_argument("--config", help="a supercompat.toml to take the adapters from")
    p.add_argument("--db", default="sqlite:///supercompat-demo.db",
                   help="where to keep state: a database URL (needs supercompat-sqlalchemy) or 'memory' "
                        "(default: %(default)s)")
    p.set_defaults(func=_demo)
    p = sub.add_parser("plugins", help="list installed adapters by kind, with package and version")
    p.set_defaults(func=_plugins)
    p = sub.add_parser("db", help="the storage database's schema")
    db = p.add_subparsers(dest="db_command", required=True)
    p = db.add_parser("upgrade", help="migrate the configured storage's database to the current schema",
                      description="Apply the storage plugin's migrations (Alembic for sqlalchemy). Stop the "
                                  "processes using the database first.")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--config", help="the supercompat.toml whose [storage] to upgrade "
                                         "(default: $SUPERCOMPAT_CONFIG or ./supercompat.toml)")
    source.add_argument("--url", help="a database URL to upgrade with the sqlalchemy storage")
    p.set_defaults(func=_db_upgrade)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="openai")
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"supercompat: {e}", file=sys.stderr)
        return 2
    except APIError as e:  # e.g. the database is unreachable
        print(f"supercompat: {e.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
