"""The ``supercompat`` command."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import warnings

from .errors import ConfigError


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="supercompat", description="The OpenAI Assistants API on any provider.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run the full assistants flow and print what happens")
    p.add_argument("--config", help="a supercompat.toml to take the adapters from")
    p.set_defaults(func=_demo)
    p = sub.add_parser("plugins", help="list installed adapters by kind, with package and version")
    p.set_defaults(func=_plugins)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="openai")
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"supercompat: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
