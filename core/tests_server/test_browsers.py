"""Browsers and Azure-style clients: with no keys only loopback Host names and JSON bodies (a web page
can't drive the server by DNS rebinding or a simple POST); CORS when configured; the Azure path prefix."""

from __future__ import annotations

import httpx2
import openai
import pytest

from supercompat import App
from supercompat.config import server_options
from supercompat.errors import ConfigError
from supercompat.testing import scripted_client_adapter

from conftest import KEY, serving

CHAT = {"model": "m", "messages": [{"role": "user", "content": "spend the key"}]}
APP = "http://app.example"


def envelope(response: httpx2.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


@pytest.fixture(scope="module")
def no_keys():
    model = scripted_client_adapter()
    with serving(App(client_adapter=model)) as server:
        server.model = model
        yield server


def test_no_key_mode_refuses_a_foreign_host(no_keys):
    port = no_keys.url.rsplit(":", 1)[1]
    with httpx2.Client(base_url=no_keys.url) as http:
        for foreign in ("attacker.example", f"attacker.example:{port}", "127.0.0.1.attacker.example"):
            refused = http.post("/v1/chat/completions", json=CHAT, headers={"Host": foreign})
            assert envelope(refused, 403)["code"] == "host_not_allowed"
        assert envelope(http.get("/health", headers={"Host": "attacker.example"}), 403)["code"] == "host_not_allowed"
        for own in ("localhost", f"localhost:{port}", "127.0.0.1", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST"):
            assert http.get("/v1/assistants", headers={"Host": own}).status_code == 200
    assert no_keys.model.requests == []


def test_no_key_mode_refuses_bodies_that_are_not_json(no_keys):
    """A web page's simple POST (text/plain, a form, or no type at all) must not reach the model."""
    with httpx2.Client(base_url=no_keys.base_url) as http:
        body = httpx2.Request("POST", "/", json=CHAT).content
        for kind in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                     "multipart/form-data; boundary=x", None):
            headers = {"Content-Type": kind} if kind else {}
            error = envelope(http.post("/chat/completions", content=body, headers=headers), 400)
            assert error["code"] == "unsupported_content_type" and error["type"] == "invalid_request_error"
        assert no_keys.model.requests == []
        ok = http.post("/chat/completions", content=body, headers={"Content-Type": "application/json; charset=utf-8"})
        assert ok.status_code == 200 and len(no_keys.model.requests) == 1
        assert http.post("/threads").status_code == 200  # no body, no type needed


def test_no_key_mode_refuses_a_foreign_web_origin(no_keys):
    with httpx2.Client(base_url=no_keys.base_url) as http:
        refused = http.post("/threads", headers={"Origin": "http://evil.example"})
        assert envelope(refused, 403)["code"] == "origin_not_allowed"


def test_no_key_mode_takes_a_post_from_its_own_pages(no_keys):
    """The dashboard's pages are this origin: a browser names it on their POSTs, and they are taken;
    a page of another port or scheme on the same host is another origin."""
    host = no_keys.url.removeprefix("http://")
    port = int(host.rsplit(":", 1)[1])
    with httpx2.Client(base_url=no_keys.base_url) as http:
        assert http.post("/threads", headers={"Origin": no_keys.url}).status_code == 200
        assert http.post("/threads", headers={"Origin": no_keys.url.upper()}).status_code == 200
        for other in (f"http://127.0.0.1:{port + 1}", f"http://localhost:{port}", "http://127.0.0.1", "null",
                      f"ftp://{host}", f"x://{host}"):
            refused = http.post("/threads", headers={"Origin": other})
            assert envelope(refused, 403)["code"] == "origin_not_allowed", other
        cross = http.post("/threads", headers={"Origin": no_keys.url, "Sec-Fetch-Site": "cross-site"})
        assert envelope(cross, 403)["code"] == "origin_not_allowed"  # the browser says it is another site's
        refused = http.post("/threads", headers={"Origin": "http://evil.example", "Host": "evil.example"})
        assert envelope(refused, 403)["code"] == "host_not_allowed"  # rebinding: the Host check comes first


def test_no_key_mode_with_any_host_trusts_no_origin_as_its_own():
    """With ``allowed_hosts = ["*"]`` a rebound name's Host passes, so a page naming that same host as
    its origin would look like our own: no origin is."""
    with serving(App(), allowed_hosts=["*"]) as server, httpx2.Client(base_url=server.base_url) as http:
        for host in ("evil.example:80", server.url.removeprefix("http://")):
            refused = http.post("/threads", headers={"Host": host, "Origin": f"http://{host}"})
            assert envelope(refused, 403)["code"] == "origin_not_allowed", host
        assert http.post("/threads").status_code == 200


def test_allowed_hosts_names_the_hosts_to_answer_for():
    with serving(allowed_hosts=["supercompat.internal"]) as server, httpx2.Client(base_url=server.url) as http:
        assert http.get("/v1/assistants", headers={"Host": "supercompat.internal:8000"}).status_code == 200
        assert envelope(http.get("/v1/assistants", headers={"Host": "localhost"}), 403)["code"] == "host_not_allowed"


def test_with_keys_any_host_but_still_only_json(http_server):
    headers = {"Authorization": f"Bearer {KEY}", "Host": "api.example.com"}
    with httpx2.Client(base_url=http_server.base_url, headers=headers) as http:
        assert http.get("/assistants").status_code == 200
        error = envelope(http.post("/assistants", content=b'{"model": "m"}', headers={"Content-Type": "text/plain"}),
                         400)
        assert error["code"] == "unsupported_content_type"


def test_cors_is_off_by_default(http_server):
    preflight = httpx2.options(http_server.base_url + "/assistants", headers={
        "Origin": APP, "Access-Control-Request-Method": "POST"})
    assert envelope(preflight, 403)["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in preflight.headers
    answer = httpx2.get(http_server.base_url + "/assistants", headers={"Origin": APP, "Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers


def test_cors_answers_preflights_and_marks_every_response_for_allowed_origins():
    with serving(App(client_adapter=scripted_client_adapter()), api_keys=[KEY], cors_allowed_origins=[APP]) as server, \
            httpx2.Client(base_url=server.base_url) as http:
        asked = "authorization, content-type, openai-beta, x-stainless-os, x-stainless-retry-count"
        preflight = http.options("/threads/runs", headers={
            "Origin": APP, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": asked})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == APP
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert preflight.headers["access-control-allow-headers"] == asked
        assert int(preflight.headers["access-control-max-age"]) > 0

        other = http.options("/threads", headers={"Origin": "http://evil.example",
                                                  "Access-Control-Request-Method": "POST"})
        assert envelope(other, 403)["code"] == "origin_not_allowed"
        assert "access-control-allow-origin" not in other.headers

        auth = {"Authorization": f"Bearer {KEY}", "Origin": APP}
        for response in (http.get("/assistants", headers=auth),
                         http.get("/assistants", headers={"Origin": APP}),  # a 401 too, or the page can't read it
                         http.get("/threads/thread_nope", headers=auth)):
            assert response.headers["access-control-allow-origin"] == APP
            assert "x-request-id" in response.headers["access-control-expose-headers"]
            assert "Origin" in response.headers["vary"]
        a = http.post("/assistants", json={"model": "m"}, headers=auth).json()
        with http.stream("POST", "/threads/runs", json={"assistant_id": a["id"], "stream": True},
                         headers=auth) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["access-control-allow-origin"] == APP
            assert "event: done" in stream.read().decode()
        assert "access-control-allow-origin" not in http.get("/assistants", headers={
            "Authorization": f"Bearer {KEY}", "Origin": "http://evil.example"}).headers


def test_cors_any_origin_only_when_asked_for():
    with serving(api_keys=[KEY], cors_allowed_origins=["*"]) as server:
        answer = httpx2.get(server.base_url + "/assistants", headers={"Origin": "http://anywhere.example",
                                                                      "Authorization": f"Bearer {KEY}"})
        assert answer.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("origin", ["app.example", "http://app.example/path", "ftp://app.example", ""])
def test_cors_origins_are_checked_in_the_configuration(origin):
    with pytest.raises(ConfigError, match="cors_allowed_origins"):
        server_options({"server": {"cors_allowed_origins": [origin]}})


def test_the_azure_openai_client_works_against_the_server():
    with serving(App(client_adapter=scripted_client_adapter()), api_keys=[KEY]) as server, \
            openai.AzureOpenAI(azure_endpoint=server.url, api_version="2024-05-01-preview", api_key=KEY,
                               max_retries=0) as client:
        assistant = client.beta.assistants.create(model="gpt-4o-deployment", name="on azure")
        assert [a.id for a in client.beta.assistants.list().data] == [assistant.id]
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
        run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        assert run.status == "completed"
        reply = client.beta.threads.messages.list(thread.id).data[0].content[0].text.value
        assert reply == "You said: hello"
        chat = client.chat.completions.create(model="gpt-4o-deployment", messages=[{"role": "user", "content": "hi"}])
        assert chat.choices[0].message.content == "You said: hi"
    with serving(App(client_adapter=scripted_client_adapter()), api_keys=[KEY]) as server:
        with openai.AzureOpenAI(azure_endpoint=server.url, azure_deployment="my-deployment", api_version="2024-10-21",
                                api_key=KEY, max_retries=0) as client:
            assert client.beta.assistants.create(model="m").object == "assistant"
            chat = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "yo"}])
            assert chat.choices[0].message.content == "You said: yo"
        with openai.AzureOpenAI(azure_endpoint=server.url, api_version="2024-05-01-preview", api_key="wrong",
                                max_retries=0) as client, pytest.raises(openai.AuthenticationError):
            client.beta.assistants.list()


def test_worker_processes_see_the_command_lines_host(tmp_path, monkeypatch):
    """`serve --host 0.0.0.0 --workers 2`: each worker must know it is not on loopback (no Host check
    for a public bind without keys), though the config file says nothing of it."""
    from supercompat.server import app_from_config

    config = tmp_path / "s.toml"
    config.write_text('[client]\nplugin = "scripted"\n[server]\nallow_unauthenticated_public_bind = true\n')
    monkeypatch.setenv("SUPERCOMPAT_CONFIG", str(config))
    monkeypatch.setenv("SUPERCOMPAT_SERVE_OVERRIDES", '{"host": "0.0.0.0", "workers": 2}')
    assert app_from_config().options.host == "0.0.0.0"


def test_no_key_mode_answers_for_the_loopback_address_it_is_bound_to():
    with serving(host="127.0.0.2") as server, httpx2.Client(base_url=server.url) as http:
        port = server.url.rsplit(":", 1)[1]
        for own in ("127.0.0.2", f"127.0.0.2:{port}", f"localhost:{port}"):
            assert http.get("/v1/assistants", headers={"Host": own}).status_code == 200
        assert envelope(http.get("/v1/assistants", headers={"Host": "127.0.0.3"}), 403)["code"] == "host_not_allowed"
