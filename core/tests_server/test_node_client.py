"""The Node ``openai`` package, from the npm registry, against the server: create, stream, tool round trip."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess

import pytest

from supercompat import App
from supercompat.testing import Reply, scripted_client_adapter

from conftest import KEY, serving

NODE_OPENAI = "openai@6"
HERE = pathlib.Path(__file__).parent


@pytest.fixture(scope="session")
def node_modules() -> pathlib.Path:
    """The openai package installed once into a cache directory (``$SUPERCOMPAT_NODE_CACHE``)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("needs node and npm on PATH")
    cache = pathlib.Path(os.environ.get("SUPERCOMPAT_NODE_CACHE", pathlib.Path.home() / ".cache" / "supercompat-node"))
    if not (cache / "node_modules" / "openai" / "package.json").exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund", NODE_OPENAI],
                       check=True, capture_output=True, timeout=600)
    return cache / "node_modules"


def test_node_openai_create_stream_and_tool_round_trip(node_modules):
    model = scripted_client_adapter([Reply(tool_calls=[("get_weather", {"city": "Paris"})])])
    with serving(App(client_adapter=model), api_keys=[KEY]) as server:
        done = subprocess.run(["node", str(HERE / "node_client.cjs")], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "NODE_PATH": str(node_modules), "BASE_URL": server.base_url,
                                   "API_KEY": KEY})
    assert done.returncode == 0, done.stderr
    created, first, second, thread = [json.loads(line) for line in done.stdout.splitlines()]
    assert created["assistant"].startswith("asst_") and created["thread"].startswith("thread_")
    assert first["events"][:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert first["events"][-1] == "thread.run.requires_action" and "thread.run.step.delta" in first["events"]
    assert first["status"] == "requires_action" and first["calls"] == [["get_weather", {"city": "Paris"}]]
    assert second == {"status": "completed", "text": "The tools answered: 18C and sunny"}
    assert thread["messages"] == [["user", "Weather in Paris?"], ["assistant", "The tools answered: 18C and sunny"]]
    tool_result = model.requests[-1]["messages"][-1]  # what reached the model after the round trip
    assert tool_result["role"] == "tool" and tool_result["content"] == "18C and sunny"
