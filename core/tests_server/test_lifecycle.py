"""Streams end when their client goes away (the run goes on); shutdown never strands a run; the CLI
around the server."""

from __future__ import annotations

import asyncio
import time

import httpx2

from supercompat import App
from supercompat.cli import main
from supercompat.storage import ListQuery

from conftest import KEY, serving

HEADERS = {"Authorization": f"Bearer {KEY}"}


def chunk(content: str | None = None, finish: str | None = None) -> dict:
    delta = {"content": content} if content is not None else {}
    return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class Gated:
    """Streams "Partial", then waits until ``release()`` (called from any thread) before finishing."""

    def __init__(self) -> None:
        self._gate: asyncio.Event | None = None

    async def chat_completions_stream(self, params):
        self._loop, self._gate = asyncio.get_running_loop(), asyncio.Event()
        yield chunk("Partial")
        await self._gate.wait()
        yield chunk(" and whole.")
        yield chunk(finish="stop")

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self._gate.set)


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.01)


def test_a_client_leaving_a_stream_frees_it_and_the_run_goes_on():
    model = Gated()
    with serving(App(client_adapter=model), api_keys=[KEY]) as server, \
            httpx2.Client(base_url=server.base_url, headers=HEADERS) as http:
        engine = server.asgi.app.engine
        a = http.post("/assistants", json={"model": "m"}).json()
        t = http.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]}).json()
        with http.stream("POST", f"/threads/{t['id']}/runs", json={"assistant_id": a["id"], "stream": True}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["x-accel-buffering"] == "no"
            seen = ""
            for text in r.iter_text():  # frames arrive while the run is still going
                seen += text
                if "thread.message.delta" in seen:
                    run_id = seen.split('"object":"thread.run"', 1)[0].rsplit('"id":"', 1)[1].split('"', 1)[0]
                    assert engine._subscribers.get(run_id)  # held at the gate, the run streams to us
                    break  # leaving the iterator closes the connection
            else:
                raise AssertionError(seen)
        # The stream was subscribed until then (the run is held at the gate); now nobody listens.
        wait_until(lambda: not engine._subscribers.get(run_id), "the server frees the stream")
        assert http.get(f"/threads/{t['id']}/runs/{run_id}").json()["status"] == "in_progress"
        model.release()
        run = http.get(f"/threads/{t['id']}/runs/{run_id}", headers={"X-Stainless-Poll-Helper": "true"}).json()
        assert run["status"] == "completed"
        message = http.get(f"/threads/{t['id']}/messages").json()["data"][0]
        assert message["content"][0]["text"]["value"] == "Partial and whole."


def test_shutdown_ends_runs_in_flight_as_failed():
    model = Gated()
    app = App(client_adapter=model)
    with serving(app, api_keys=[KEY], shutdown_grace_seconds=0) as server, \
            httpx2.Client(base_url=server.base_url, headers=HEADERS) as http:
        a = http.post("/assistants", json={"model": "m"}).json()
        t = http.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]}).json()
        run = http.post(f"/threads/{t['id']}/runs", json={"assistant_id": a["id"]}).json()
        wait_until(lambda: http.get(f"/threads/{t['id']}/messages", params={"run_id": run["id"]}).json()["data"],
                   "the run to be streaming its answer")
    stored = asyncio.run(app.storage.get_run(t["id"], run["id"]))
    assert stored["status"] == "failed"
    assert stored["last_error"] == {"code": "server_error", "message": "The server shut down before the run finished."}
    message = asyncio.run(app.storage.list_messages(t["id"], ListQuery(), run_id=run["id"])).data[0]
    assert message["status"] == "incomplete" and message["content"][0]["text"]["value"] == "Partial"
    assert app.closing


def test_check_reports_each_section(tmp_path, capsys):
    good = tmp_path / "good.toml"
    good.write_text('[client]\nplugin = "scripted"\n[server]\napi_keys = ["k"]\n')
    assert main(["check", "--config", str(good)]) == 0
    out = capsys.readouterr().out
    assert "[client]  ok       scripted (supercompat" in out and "[server]  ok       127.0.0.1:8000" in out
    assert "[blob]    ok       none named: files go where the storage adapter keeps them" in out

    bad = tmp_path / "bad.toml"
    bad.write_text('[client]\nplugin = "nope"\n[storage]\nplugin = "redis"\n[server]\nhost = "0.0.0.0"\n')
    assert main(["check", "--config", str(bad)]) == 2
    captured = capsys.readouterr()
    assert "[client]  PROBLEM  Unknown client adapter 'nope'" in captured.out
    assert "pip install supercompat-redis" in captured.out
    assert "[server]  PROBLEM  Refusing to serve on 0.0.0.0" in captured.out
    assert captured.err == f"supercompat: 3 problems in {bad}\n"


def test_serve_help_names_its_options(capsys):
    try:
        main(["serve", "--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    for option in ("--config", "--host", "--port", "--workers"):
        assert option in out


def test_each_worker_builds_its_app_from_the_config(tmp_path, monkeypatch):
    """What `--workers N` processes run: uvicorn's factory reads $SUPERCOMPAT_CONFIG."""
    from supercompat.server import app_from_config

    config = tmp_path / "s.toml"
    config.write_text('[client]\nplugin = "scripted"\n'
                      '[server]\napi_keys = [{ env = "MY_KEY" }]\nmax_request_bytes = 99\n')
    monkeypatch.setenv("MY_KEY", "sk-from-env")
    monkeypatch.setenv("SUPERCOMPAT_CONFIG", str(config))
    asgi = app_from_config()
    assert asgi.options.max_request_bytes == 99 and asgi.options.key_projects() == {"sk-from-env": None}
    assert asyncio.run(asgi.app.client.list_models())[0]["id"] == "scripted"
