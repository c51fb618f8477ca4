"""Installs the Node ``openai`` package that test_node_client.py drives, into ``$SUPERCOMPAT_NODE_CACHE``
(default ``~/.cache/supercompat-node``). tox runs it before the server tests (``commands_pre``), so no
test reaches the npm registry; it retries, and shows npm's own output when an attempt fails.

    python core/tests_server/node_setup.py

Without node or npm on PATH it does nothing (the Node-client test then skips)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import time

NODE_OPENAI = "openai@6"
ATTEMPTS = 3


def node_cache() -> pathlib.Path:
    default = pathlib.Path.home() / ".cache" / "supercompat-node"
    return pathlib.Path(os.environ.get("SUPERCOMPAT_NODE_CACHE", default))


def installed(cache: pathlib.Path) -> bool:
    return (cache / "node_modules" / "openai" / "package.json").exists()


def have_node() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def main(attempts: int = ATTEMPTS, pause: float = 5.0) -> int:
    if not have_node():
        print("node_setup: node or npm is not on PATH; the Node-client test will be skipped")
        return 0
    cache = node_cache()
    if installed(cache):
        return 0
    cache.mkdir(parents=True, exist_ok=True)
    command = ["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund", NODE_OPENAI]
    for attempt in range(1, attempts + 1):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=300)
            output, failed = done.stdout + done.stderr, done.returncode != 0 or not installed(cache)
        except subprocess.TimeoutExpired as exc:
            output, failed = f"{exc}\n{exc.stderr or ''}", True
        if not failed:
            print(f"node_setup: installed {NODE_OPENAI} into {cache}")
            return 0
        print(f"node_setup: attempt {attempt} of {attempts} failed: {' '.join(command)}\n{output}", file=sys.stderr)
        if attempt < attempts:
            time.sleep(pause * attempt)
    print(f"node_setup: could not install {NODE_OPENAI} into {cache} (npm's output is above)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
