"""The sandboxed Python environment of the tests that run code (the sandbox kit, code_interpreter): a
venv made from /usr/bin/python3 with numpy, pandas and matplotlib (as docs/sandboxes.md tells
operators to make one), in the system's temporary directory, where the sandbox's unprivileged uid can
read it (a checkout under /root, or tox's own directory, may not be). ``python -m
supercompat.testing.sandbox_python`` makes it (tox's commands_pre, with uv); idempotent."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

VENV = Path(tempfile.gettempdir()) / "supercompat-sandbox-python"
PYTHON = VENV / "bin" / "python"
PACKAGES = ["numpy", "pandas", "matplotlib"]


def sandbox_python() -> str:
    """The interpreter tests give the sandbox: ``SUPERCOMPAT_SANDBOX_PYTHON``, else the venv made here,
    else /usr/bin/python3 (without numpy, pandas and matplotlib)."""
    return os.environ.get("SUPERCOMPAT_SANDBOX_PYTHON") or (str(PYTHON) if PYTHON.exists() else "/usr/bin/python3")


def sandbox_for_tests() -> Any:
    """Core's bubblewrap sandbox on :func:`sandbox_python`, for tests; skips the test where ``bwrap``
    isn't installed (CI installs it)."""
    import pytest

    from ..sandbox_bubblewrap import BubblewrapOptions, BubblewrapSandbox, bwrap_path

    if bwrap_path() is None:
        pytest.skip("bubblewrap isn't installed (apt-get install bubblewrap)")
    return BubblewrapSandbox(BubblewrapOptions(python=sandbox_python()))


def main() -> int:
    if not PYTHON.exists():
        subprocess.run(["uv", "venv", "--quiet", "--python", "/usr/bin/python3", str(VENV)], check=True)
    subprocess.run(["uv", "pip", "install", "--quiet", "--link-mode", "copy", "--compile-bytecode",
                    "--python", str(PYTHON), *PACKAGES], check=True)
    # uv compiles only what it installs: a venv made before without bytecode gets it here (the sandbox
    # can't write it, and would compile numpy, pandas and matplotlib again in every session)
    subprocess.run([str(PYTHON), "-m", "compileall", "-q", str(VENV / "lib")], check=True,
                   stdout=subprocess.DEVNULL)
    VENV.chmod(0o755)
    return 0


if __name__ == "__main__":
    sys.exit(main())
