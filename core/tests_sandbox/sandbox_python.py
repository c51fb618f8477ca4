"""The sandboxed Python environment of the sandbox tests: a venv made from /usr/bin/python3 with numpy,
pandas and matplotlib (as docs/sandboxes.md tells operators to make one), in the system's temporary
directory, where the sandbox's unprivileged uid can read it (a checkout under /root, or tox's own
directory, may not be). Run by tox (commands_pre) with uv; idempotent."""

import subprocess
import sys
import tempfile
from pathlib import Path

VENV = Path(tempfile.gettempdir()) / "supercompat-sandbox-python"
PYTHON = VENV / "bin" / "python"
PACKAGES = ["numpy", "pandas", "matplotlib"]


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
