"""API keys, projects, and the HTTP-level errors, all in OpenAI's envelope."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

from supercompat import App
from supercompat.cli import main
from supercompat.config import ServerOptions
from supercompat.server import check_options
from supercompat.testing import Reply, scripted_client_adapter

from conftest import KEY, serving

ALPHA, BETA = "sk-alpha-0123456789", "sk-beta-0123456789"
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(scope="module")
def two_keys():
    app = App(client_adapter=scripted_client_adapter())
    with serving(app, api_keys=[ALPHA, BETA, {"key": "sk-alpha-rotated", "project": "team"},
                                {"key": "sk-team-2", "project": "team"}]) as server:
        yield server


def envelope(response: httpx2.Response, status: int) -> dict:
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


def test_no_key_is_401(http_server):
    error = envelope(httpx2.get(http_server.base_url + "/assistants"), 401)
    assert "didn't provide an API key" in error["message"]
    error = envelope(httpx2.get(http_server.base_url + "/assistants", headers={"Authorization": "Basic eDp5"}), 401)
    assert "didn't provide an API key" in error["message"]


def test_wrong_key_is_401_through_the_sdk(http_server):
    with pytest.raises(openai.AuthenticationError) as caught:
        http_server.client(api_key="sk-test-wrong").beta.assistants.list()
    assert caught.value.code == "invalid_api_key" and "sk-test-wrong" not in caught.value.message
    with pytest.raises(openai.AuthenticationError):
        http_server.client(api_key=KEY + "x").beta.assistants.list()


def test_the_right_key_passes(http_server):
    assert http_server.client().beta.assistants.list().data == []


def test_a_second_keys_objects_are_invisible(two_keys):
    alpha, beta = two_keys.client(api_key=ALPHA), two_keys.client(api_key=BETA)
    a = alpha.beta.assistants.create(model="m", tools=[WEATHER])
    t = alpha.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = alpha.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "completed"
    step = alpha.beta.threads.runs.steps.list(run.id, thread_id=t.id).data[0]
    message = alpha.beta.threads.messages.list(t.id).data[0]

    assert beta.beta.assistants.list().data == []
    own_assistant = beta.beta.assistants.create(model="m")
    own_thread = beta.beta.threads.create()
    assert [x.id for x in beta.beta.assistants.list().data] == [own_assistant.id]
    assert [x.id for x in alpha.beta.assistants.list().data] == [a.id]
    hidden = [
        lambda: beta.beta.assistants.retrieve(a.id),
        lambda: beta.beta.assistants.update(a.id, name="mine now"),
        lambda: beta.beta.assistants.delete(a.id),
        lambda: beta.beta.threads.retrieve(t.id),
        lambda: beta.beta.threads.update(t.id, metadata={"k": "v"}),
        lambda: beta.beta.threads.delete(t.id),
        lambda: beta.beta.threads.messages.list(t.id),
        lambda: beta.beta.threads.messages.create(t.id, role="user", content="sneaky"),
        lambda: beta.beta.threads.messages.retrieve(message.id, thread_id=t.id),
        lambda: beta.beta.threads.messages.delete(message.id, thread_id=t.id),
        lambda: beta.beta.threads.runs.list(t.id),
        lambda: beta.beta.threads.runs.retrieve(run.id, thread_id=t.id),
        lambda: beta.beta.threads.runs.cancel(run.id, thread_id=t.id),
        lambda: beta.beta.threads.runs.steps.list(run.id, thread_id=t.id),
        lambda: beta.beta.threads.runs.steps.retrieve(step.id, thread_id=t.id, run_id=run.id),
        lambda: beta.beta.threads.runs.create(thread_id=t.id, assistant_id=own_assistant.id),
        lambda: beta.beta.threads.runs.create(thread_id=own_thread.id, assistant_id=a.id),
        lambda: beta.beta.threads.create_and_run(assistant_id=a.id),
    ]
    for attempt in hidden:
        with pytest.raises(openai.NotFoundError) as caught:
            attempt()
        assert caught.value.body["message"] in (f"No assistant found with id '{a.id}'.",
                                                f"No thread found with id '{t.id}'.")
    # alpha's objects are untouched
    assert alpha.beta.assistants.retrieve(a.id).name is None
    texts = [m.content[0].text.value for m in alpha.beta.threads.messages.list(t.id, order="asc").data]
    assert texts == ["hi", message.content[0].text.value]
    assert alpha.beta.threads.retrieve(t.id).metadata == {}


def test_keys_naming_one_project_share_it(two_keys):
    first, second = two_keys.client(api_key="sk-alpha-rotated"), two_keys.client(api_key="sk-team-2")
    a = first.beta.assistants.create(model="m", name="shared")
    assert second.beta.assistants.retrieve(a.id).name == "shared"
    assert a.id not in [x.id for x in two_keys.client(api_key=ALPHA).beta.assistants.list().data]


def test_responses_never_show_the_project(two_keys):
    headers = {"Authorization": f"Bearer {ALPHA}"}
    with httpx2.Client(base_url=two_keys.base_url, headers=headers) as http:
        assistant = http.post("/assistants", json={"model": "m"}).json()
        thread = http.post("/threads", json={}).json()
        assert "project" not in assistant and "project" not in thread
        assert "project" not in http.get(f"/threads/{thread['id']}").json()
        assert all("project" not in a for a in http.get("/assistants").json()["data"])
        body = http.post("/threads/runs", json={"assistant_id": assistant["id"], "stream": True}).text
        created = json.loads(body.split("event: thread.created\ndata: ", 1)[1].split("\n", 1)[0])
        assert created["object"] == "thread" and "project" not in created


def test_http_errors_are_in_the_envelope(http_server):
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx2.Client(base_url=http_server.url, headers=headers) as http:
        assert envelope(http.get("/v1/nothing/here"), 404)["code"] == "unknown_url"
        assert envelope(http.get("/elsewhere"), 404)["code"] == "unknown_url"
        assert envelope(http.delete("/v1/assistants"), 405)["code"] == "method_not_allowed"
        bad = http.post("/v1/assistants", content=b"{not json", headers={"content-type": "application/json"})
        assert "could not parse the JSON body" in envelope(bad, 400)["message"]
        ok = http.get("/health", headers={"Authorization": ""})
        assert ok.status_code == 200 and ok.json() == {"status": "ok"}


def test_models_lists_what_the_client_adapter_offers(two_keys):
    assert [m.id for m in two_keys.client(api_key=BETA).models.list()] == ["scripted"]


def test_request_body_limit():
    with serving(api_keys=[KEY], max_request_bytes=2000) as server, \
            httpx2.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {KEY}",
                                                             "Content-Type": "application/json"}) as http:
        big = json.dumps({"model": "m", "instructions": "x" * 5000}).encode()
        assert envelope(http.post("/assistants", content=big), 413)["code"] == "request_too_large"

        def chunked():  # no content-length: the limit holds while reading
            for i in range(0, len(big), 500):
                yield big[i:i + 500]

        assert envelope(http.post("/assistants", content=chunked()), 413)["code"] == "request_too_large"
        assert http.post("/assistants", json={"model": "m"}).status_code == 200


def test_unauthenticated_public_bind_is_refused(tmp_path, capsys):
    config = tmp_path / "open.toml"
    config.write_text('[client]\nplugin = "scripted"\n')
    assert main(["serve", "--config", str(config), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("supercompat: Refusing to serve on 0.0.0.0 without API keys") and err.count("\n") == 1
    check_options(ServerOptions(host="0.0.0.0", allow_unauthenticated_public_bind=True), "memory")
    check_options(ServerOptions(host="0.0.0.0", api_keys=[KEY]), "memory")
    for loopback in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_options(ServerOptions(host=loopback), "memory")


def test_several_workers_need_shared_storage(tmp_path, capsys):
    config = tmp_path / "memory.toml"
    config.write_text('[client]\nplugin = "scripted"\n[storage]\nplugin = "memory"\n')
    assert main(["serve", "--config", str(config), "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("supercompat: --workers 2 needs storage that the worker processes share")
    assert err.count("\n") == 1
    check_options(ServerOptions(workers=2), "sqlalchemy")


def test_run_replies_are_scoped_too(two_keys):
    """A tool round trip under one key; the other can't submit outputs to it."""
    app = two_keys.asgi.app
    app.client.script(Reply(tool_calls=[("get_weather", {})]))
    alpha, beta = two_keys.client(api_key=ALPHA), two_keys.client(api_key=BETA)
    a = alpha.beta.assistants.create(model="m", tools=[WEATHER])
    t = alpha.beta.threads.create(messages=[{"role": "user", "content": "weather?"}])
    run = alpha.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    with pytest.raises(openai.NotFoundError):
        beta.beta.threads.runs.submit_tool_outputs(run.id, thread_id=t.id,
                                                   tool_outputs=[{"tool_call_id": call.id, "output": "x"}])
    done = alpha.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}])
    assert done.status == "completed"
