"""`supercompat serve` in its own process, run by the interpreter of tox's server env (core needs
openai 3, so it can't share this env, whose openai is an old release), driven by that old SDK."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

KEY = "sk-old-sdk-0123456789"


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory):
    python = os.environ.get("SUPERCOMPAT_SERVER_PYTHON", "")
    if not python or not Path(python).exists():
        pytest.fail(f"SUPERCOMPAT_SERVER_PYTHON ({python!r}) names no interpreter: build the server env "
                    f"first (tox -e server --notest), whose python serves these tests")
    config = tmp_path_factory.mktemp("serve") / "supercompat.toml"
    config.write_text(f'[embedder]\nplugin = "hashing"\n[server]\nport = 0\napi_keys = ["{KEY}"]\n')
    proc = subprocess.Popen([python, "-m", "supercompat.cli", "serve", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = bytearray()
    started = threading.Event()

    def drain() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.extend(line)
            if b"running on http" in line:
                started.set()

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    if not started.wait(60):
        proc.kill()
        raise RuntimeError("the server did not start:\n" + log.decode(errors="replace"))
    port = re.search(rb"running on http://127\.0\.0\.1:(\d+)", log).group(1).decode()
    yield f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    thread.join(10)
    proc.stderr.close()
