"""The Node ``openai`` package (installed by node_setup.py before the tests) against the server: create,
stream, tool round trip."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import node_setup
import pytest
from node_setup import NODE_OPENAI, have_node, installed, node_cache

from supercompat import App
from supercompat.testing import Reply, scripted_client_adapter

from conftest import KEY, serving

HERE = pathlib.Path(__file__).parent


@pytest.fixture(scope="session")
def node_modules() -> pathlib.Path:
    """The openai package node_setup.py installed (tox runs it before these tests)."""
    if not have_node():
        pytest.skip("needs node and npm on PATH")
    cache = node_cache()
    if not installed(cache):
        pytest.fail(f"The Node {NODE_OPENAI} package is not installed in {cache}: run "
                    f"`python core/tests_server/node_setup.py` (tox -e server runs it first), which shows "
                    f"npm's output if the install fails.", pytrace=False)
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


def test_a_failed_install_is_retried_and_shows_npms_output(tmp_path, monkeypatch, capsys):
    if not have_node():
        pytest.skip("needs node and npm on PATH")
    monkeypatch.setenv("SUPERCOMPAT_NODE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "http://127.0.0.1:9/")  # nothing listens: refused at once
    monkeypatch.setenv("NPM_CONFIG_FETCH_RETRIES", "0")
    monkeypatch.setenv("NPM_CONFIG_CACHE", str(tmp_path / "npm-cache"))
    monkeypatch.setenv("NPM_CONFIG_OFFLINE", "false")
    assert node_setup.main(attempts=2, pause=0) == 1
    err = capsys.readouterr().err
    assert "attempt 1 of 2 failed" in err and "attempt 2 of 2 failed" in err
    assert "npm error" in err.lower() or "npm err" in err.lower()  # npm's own words, not swallowed
    assert "could not install" in err
