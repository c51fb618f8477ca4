"""The harness itself: Chromium loads the dashboard from each kind of server, the page fixtures record
and emulate what they say, and the fake model behaves as fake_model.py says."""

from __future__ import annotations

import json
import urllib.request

from conftest import KEY_A, KEY_B, Model, screenshot, serving_workers

WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def assert_dashboard(page, url):
    response = page.goto(url + "/ui/")
    assert response.status == 200 and page.title() == "supercompat"
    return response


def test_chromium_loads_the_dashboard_with_its_policy(server, page):
    response = assert_dashboard(page, server.url)
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_ui_redirects_to_ui_slash(server, page):
    response = page.goto(server.url + "/ui")
    assert page.url == server.url + "/ui/" and response.status == 200
    assert response.request.redirected_from.response().status == 308


def test_the_page_records_its_api_calls(server, page):
    assert_dashboard(page, server.url)
    status = page.evaluate("async () => (await fetch('/v1/models?limit=1')).status")
    assert status == 401  # no key
    assert ("GET", "/v1/models?limit=1") in page.api_calls
    assert all(path.startswith("/v1/") for _, path in page.api_calls)


def test_the_phone_page_is_a_touch_phone(server, phone_page):
    assert_dashboard(phone_page, server.url)
    assert phone_page.evaluate("[innerWidth, navigator.maxTouchPoints > 0, matchMedia('(pointer: coarse)').matches]") \
        == [390, True, True]


def test_screenshots_go_where_the_variable_says(server, page, tmp_path, monkeypatch):
    assert_dashboard(page, server.url)
    monkeypatch.delenv("SUPERCOMPAT_SCREENSHOTS", raising=False)
    screenshot(page, "nowhere")
    monkeypatch.setenv("SUPERCOMPAT_SCREENSHOTS", str(tmp_path / "shots"))
    screenshot(page, "home")
    assert (tmp_path / "shots" / "home.png").read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in (tmp_path / "shots").iterdir()] == ["home.png"]


def test_sql_servers_serve_the_dashboard_and_keep_projects_apart(sql_server, page):
    assert_dashboard(page, sql_server.url)
    alpha, beta = sql_server.client(api_key=KEY_A), sql_server.client(api_key=KEY_B)
    assistant = alpha.beta.assistants.create(model="fake", name="alpha's")
    assert [a.id for a in alpha.beta.assistants.list()] == [assistant.id]
    assert list(beta.beta.assistants.list()) == []


def test_two_worker_processes_serve_the_dashboard(tmp_path, page):
    with serving_workers(f"sqlite+aiosqlite:///{tmp_path / 'workers.db'}", tmp_path) as url:
        assert_dashboard(page, url)
        with urllib.request.urlopen(url + "/health", timeout=10) as health:
            assert health.status == 200
        import openai

        with openai.OpenAI(base_url=url + "/v1", api_key=KEY_A, max_retries=0) as client:
            assistant = client.beta.assistants.create(model="scripted")
            thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
            run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
            assert run.status == "completed"
            assert client.beta.threads.messages.list(thread.id).data[0].content[0].text.value == "You said: hi"


# -- the fake model ----------------------------------------------------------------------------------

def start(server, text, tools=()):
    client = server.client(api_key=KEY_A)
    assistant = client.beta.assistants.create(model="fake", tools=list(tools))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": text}])
    return client, assistant, thread


def test_the_model_asks_for_the_weather_then_reports_it(server):
    client, assistant, thread = start(server, "What's the weather like?", [WEATHER_TOOL])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": call.id, "output": "18°C, sunny"}])
    assert run.status == "completed"
    assert client.beta.threads.messages.list(thread.id).data[0].content[0].text.value == \
        "The tools answered: 18°C, sunny"


def test_the_model_streams_what_it_was_told_word_by_word(server):
    client, assistant, thread = start(server, "hi")
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        deltas = [event.data.delta.content[0].text.value for event in stream if event.event == "thread.message.delta"]
    assert deltas == ["You", " said:", " hi"]


def test_a_slow_answer_stops_when_its_run_is_cancelled(server):
    client, assistant, thread = start(server, "Count slowly, please")
    stream = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, stream=True)
    deltas = []
    for event in stream:
        if event.event == "thread.run.created":
            run_id = event.data.id
        elif event.event == "thread.message.delta":
            deltas.append(event.data.delta.content[0].text.value)
            if len(deltas) == 3:
                break
    stream.close()
    assert "".join(deltas) == "one two three"
    client.beta.threads.runs.cancel(run_id, thread_id=thread.id)
    run = client.beta.threads.runs.poll(run_id, thread_id=thread.id)
    assert run.status == "cancelled"
    text = client.beta.threads.messages.list(thread.id).data[0].content[0].text.value
    assert Model.SLOW_TEXT.startswith(text) and len(text.split()) < 60
