"""The dashboard in a real Chromium, against a real server: log in, browse a thread and its tool
calls, the playground (a streamed run, tool outputs typed by hand, a cancel), project scoping, a thread
of 10,000 messages in a bounded number of calls, live updates from several workers, a phone screen."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import openai
from playwright.sync_api import Page, expect

from supercompat import App
from supercompat.testing.serving import serving
from supercompat.testing.storage import make_message, store_conversation

from conftest import KEY_A, KEY_B, Model, screenshot, serving_workers

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ANSWER = '{"city": "Paris", "temperature_c": 18}'


def log_in(page: Page, url: str, key: str = KEY_A) -> None:
    page.goto(url + "/ui/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Sections")).to_be_visible()


def weather_thread(client) -> tuple[str, str, str]:
    """An assistant with the weather function, and a thread whose run called it and was answered:
    (assistant id, thread id, run id)."""
    assistant = client.beta.assistants.create(model="fake-model", name="Weather helper", tools=[WEATHER])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What is the weather in Paris?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": call.id, "output": ANSWER}])
    assert run.status == "completed"
    return assistant.id, thread.id, run.id


def test_logging_in_refuses_a_wrong_key_and_keeps_the_key_in_the_tab_only(server, page):
    page.goto(server.url + "/ui/")
    screenshot(page, "login")
    page.get_by_label("API key").fill("sk-wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("That key was refused.")
    page.get_by_label("API key").fill(KEY_A)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Threads")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('supercompat.key')") == KEY_A
    assert page.evaluate("localStorage.length") == 0 and page.context.cookies() == []
    assert KEY_A not in page.url and all(KEY_A not in path for _, path in page.api_calls)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('supercompat.key')") is None


def test_a_thread_shows_its_messages_and_a_tool_calls_arguments_and_output(server, page):
    assistant_id, thread_id, run_id = weather_thread(server.client("sync", api_key=KEY_A))
    log_in(page, server.url)
    page.get_by_role("link", name=thread_id).click()
    chat = page.get_by_label("Conversation")
    expect(chat.get_by_text("What is the weather in Paris?")).to_be_visible()
    expect(page.get_by_label("Arguments of get_weather")).to_contain_text('"city": "Paris"')
    expect(page.get_by_label("Output of get_weather")).to_contain_text('"temperature_c": 18')
    expect(chat.get_by_text(f"The tools answered: {ANSWER}")).to_be_visible()
    chat.scroll_into_view_if_needed()
    screenshot(page, "thread")
    # the run: its timeline, usage and steps
    page.get_by_role("link", name=run_id).first.click()
    expect(page.get_by_role("heading", name=re.compile(f"^Run {run_id}"))).to_be_visible()
    expect(page.get_by_role("heading", name="Steps (2)")).to_be_visible()
    expect(page.get_by_text("Completed", exact=True)).to_be_visible()
    expect(page.get_by_text("Total tokens")).to_be_visible()
    screenshot(page, "run")
    # the assistant: its tools
    page.get_by_role("link", name=assistant_id).click()
    expect(page.get_by_role("heading", name="Weather helper")).to_be_visible()
    expect(page.get_by_text("get_weather")).to_be_visible()


def test_the_playground_streams_a_runs_text_as_it_arrives(server, page):
    client = server.client("sync", api_key=KEY_A)
    assistant = client.beta.assistants.create(model="fake-model", name="Echo")
    log_in(page, server.url)
    page.goto(f"{server.url}/ui/#/playground?assistant={assistant.id}")
    # Every length the assistant's text has on screen, as it changes.
    page.evaluate("""() => {
        window.lengths = [];
        new MutationObserver(() => {
            const text = document.querySelector(".message.assistant .text");
            if (text && text.textContent.length !== window.lengths.at(-1)) window.lengths.push(text.textContent.length);
        }).observe(document.getElementById("main"), {subtree: true, childList: true, characterData: true});
    }""")
    page.get_by_label("Message").fill("streaming is nice to watch")
    page.get_by_role("button", name="Send").click()
    reply = "You said: streaming is nice to watch"
    expect(page.locator(".message.assistant").last).to_contain_text(reply)
    expect(page.get_by_role("status")).to_contain_text("completed")
    lengths = page.evaluate("window.lengths")
    assert len(lengths) >= 4 and lengths == sorted(lengths) and lengths[-1] == len(reply), lengths
    screenshot(page, "playground")
    thread_id = re.search(r"thread=(thread_\w+)", page.url).group(1)
    [answer, _] = client.beta.threads.messages.list(thread_id=thread_id).data
    assert answer.content[0].text.value == reply


def test_the_playground_answers_a_function_call_with_an_output_typed_by_hand(server, page):
    client = server.client("sync", api_key=KEY_A)
    assistant = client.beta.assistants.create(model="fake-model", name="Weather helper", tools=[WEATHER])
    log_in(page, server.url)
    page.goto(f"{server.url}/ui/#/playground?assistant={assistant.id}")
    page.get_by_label("Message").fill("What is the weather like?")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="The run needs tool outputs")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("requires_action")
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    page.get_by_label("Output of get_weather").fill('{"temperature_c": 21}')
    screenshot(page, "playground-tool-output")
    page.get_by_role("button", name="Submit tool outputs").click()
    expect(page.get_by_text('The tools answered: {"temperature_c": 21}')).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("completed")
    thread_id = re.search(r"thread=(thread_\w+)", page.url).group(1)
    [run] = client.beta.threads.runs.list(thread_id=thread_id).data
    steps = client.beta.threads.runs.steps.list(thread_id=thread_id, run_id=run.id, order="asc").data
    [call] = steps[0].step_details.tool_calls
    assert run.status == "completed"
    assert (call.function.name, call.function.output) == ("get_weather", '{"temperature_c": 21}')


def test_the_playground_cancels_a_run_in_progress(server, page):
    client = server.client("sync", api_key=KEY_A)
    assistant = client.beta.assistants.create(model="fake-model", name="Counter")
    log_in(page, server.url)
    page.goto(f"{server.url}/ui/#/playground?assistant={assistant.id}")
    page.get_by_label("Message").fill("Count slowly, please")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message.assistant").last).to_contain_text("one two three")
    page.get_by_role("button", name="Cancel run").click()
    expect(page.get_by_role("status")).to_contain_text("cancelled")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    thread_id = re.search(r"thread=(thread_\w+)", page.url).group(1)
    [run] = client.beta.threads.runs.list(thread_id=thread_id).data
    assert run.status == "cancelled"
    [answer, _] = client.beta.threads.messages.list(thread_id=thread_id).data
    assert answer.status == "incomplete" and len(answer.content[0].text.value) < len(Model.SLOW_TEXT)


def test_a_second_projects_key_cannot_see_the_first_projects_thread(server, page):
    _, thread_id, _ = weather_thread(server.client("sync", api_key=KEY_A))
    log_in(page, server.url, KEY_B)
    expect(page.get_by_text("No threads yet.")).to_be_visible()
    page.get_by_label("Open a thread by ID").fill(thread_id)
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("alert")).to_have_text(f"No thread found with id '{thread_id}'.")
    expect(page.get_by_text("What is the weather in Paris?")).to_have_count(0)
    screenshot(page, "other-project")


def test_a_thread_of_ten_thousand_messages_opens_in_a_bounded_number_of_calls(server, page):
    """5,000 turns, each answer by a run with a tool call: the first screen reads the thread, its newest
    20 messages, its latest runs and the steps of the 10 runs on screen, and no more; each earlier
    page one more page of messages and the steps of its own runs."""
    thread_id = server.call(store_conversation(server.asgi.app.storage, 10_000, "alpha")).result()
    log_in(page, server.url)
    page.api_calls.clear()
    page.goto(f"{server.url}/ui/#/threads/{thread_id}")
    chat = page.get_by_label("Conversation")
    expect(chat.locator(".message")).to_have_count(20)
    expect(chat.locator(".tool-call")).to_have_count(10)
    expect(chat.locator(".message").last).to_contain_text("In City 4999 it is 18 °C")
    base = f"/v1/threads/{thread_id}"
    reads = [path.split("?")[0] for _, path in page.api_calls if not path.startswith(f"{base}/runs?")]
    assert sorted(reads[:2]) == [base, f"{base}/messages"] and len(reads) == 12, reads
    assert all(read.endswith("/steps") for read in reads[2:])
    assert len(set(reads[2:])) == 10
    page.api_calls.clear()
    page.get_by_role("button", name="Load earlier messages").click()
    expect(chat.locator(".message")).to_have_count(40)
    expect(chat.locator(".tool-call")).to_have_count(20)
    expect(chat.get_by_text("Turn 4980: what is the weather in City 4980")).to_be_visible()
    reads = [path for _, path in page.api_calls if not path.startswith(f"{base}/runs?")]
    assert len(reads) == 11 and reads[0].startswith(f"{base}/messages?limit=20&order=desc&after=msg_"), reads


WEATHER_REPLIES = ('[{ tool_calls = [{ name = "get_weather", arguments = { city = "Paris" } }] }, '
                   '"It is 18 degrees in Paris."]')


def test_a_thread_follows_a_run_started_elsewhere_with_several_workers(database_url, tmp_path, page):
    """The page and the run are served by whichever of two worker processes takes each request: the
    page follows the run through the database, to its tool call waiting for output, then its end."""
    with serving_workers(database_url, tmp_path, workers=2, replies=WEATHER_REPLIES) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key=KEY_A, max_retries=0)
        assistant = client.beta.assistants.create(model="fake-model", tools=[WEATHER])
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather in Paris?"}])
        log_in(page, url)
        page.goto(f"{url}/ui/#/threads/{thread.id}")
        chat = page.get_by_label("Conversation")
        expect(chat.get_by_text("Weather in Paris?", exact=True)).to_be_visible()
        run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        assert run.status == "requires_action"
        status = page.get_by_role("status")
        expect(status).to_have_text(f"Run {run.id} is waiting for tool outputs; updating live.", timeout=15_000)
        expect(page.get_by_label("Arguments of get_weather")).to_contain_text('"city": "Paris"')
        expect(chat.get_by_text("No output yet.")).to_be_visible()
        call = run.required_action.submit_tool_outputs.tool_calls[0]
        client.beta.threads.runs.submit_tool_outputs_and_poll(
            thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": call.id, "output": "18 C"}])
        expect(chat.get_by_text("It is 18 degrees in Paris.")).to_be_visible(timeout=15_000)
        expect(page.get_by_label("Output of get_weather")).to_have_text("18 C")
        expect(status).to_be_hidden()
        client.close()


def test_pages_fit_a_phone_screen(server, phone_page):
    _, thread_id, _ = weather_thread(server.client("sync", api_key=KEY_A))
    log_in(phone_page, server.url)
    for where, name in ((f"#/threads/{thread_id}", "phone-thread"), ("#/playground", None), ("#/threads", None)):
        phone_page.goto(f"{server.url}/ui/{where}")
        expect(phone_page.get_by_role("heading", level=1)).to_be_visible()
        phone_page.wait_for_load_state("networkidle")
        assert phone_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), where
        small = phone_page.evaluate("""[...document.querySelectorAll("button, input, select, textarea, .top nav a")]
            .filter((e) => e.offsetParent !== null && e.getBoundingClientRect().height < 44)
            .map((e) => e.outerHTML.slice(0, 80))""")
        assert small == [], (where, small)  # big enough to touch
        if name:
            screenshot(phone_page, name)


def test_a_server_without_keys_asks_for_none_and_takes_the_pages_posts(page):
    """On loopback without API keys the pages go straight in; their POSTs (which name this origin)
    are taken, where another origin's are refused."""
    app = App(client_adapter=Model())
    with serving(app, shutdown_grace_seconds=0) as server:
        assistant = server.client("sync", api_key="unused").beta.assistants.create(model="fake-model")
        page.goto(f"{server.url}/ui/#/playground?assistant={assistant.id}")
        expect(page.get_by_role("button", name="Log out")).to_be_hidden()
        page.get_by_label("Message").fill("no key needed")
        page.get_by_role("button", name="Send").click()
        expect(page.locator(".message.assistant").last).to_contain_text("You said: no key needed")
    server.call(app.aclose(grace=0)).result()


def test_a_thread_shows_images_and_numbered_citations_of_files(server, page):
    from supercompat.testing.images import PNG

    client = server.client("sync", api_key=KEY_A)
    image = client.files.create(file=("chart.png", PNG), purpose="vision")
    source = client.files.create(file=("handbook.txt", b"Refunds take 14 days."), purpose="assistants")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": [
        {"type": "text", "text": "What does this chart say, and how long do refunds take?"},
        {"type": "image_file", "image_file": {"file_id": image.id}}]}])
    marker = "【4:0†handbook.txt】"
    text = f"Refunds take 14 days{marker}."
    cited = make_message(thread.id, role="assistant", content=[{"type": "text", "text": {"value": text, "annotations": [
        {"type": "file_citation", "text": marker, "start_index": text.index(marker),
         "end_index": text.index(marker) + len(marker), "file_citation": {"file_id": source.id}}]}}])
    server.call(server.asgi.app.storage.create_message(cited)).result()
    log_in(page, server.url)
    page.goto(f"{server.url}/ui/#/threads/{thread.id}")
    shown = page.get_by_role("img", name=f"Image file {image.id}")
    expect(shown).to_be_visible()
    assert shown.evaluate("img => img.naturalWidth") == 2  # the file's bytes, fetched with the key
    citation = page.get_by_role("link", name="[1]")
    expect(citation).to_have_attribute("href", f"#/files/{source.id}")
    assert page.locator(".message.assistant .text").first.inner_text().startswith("Refunds take 14 days[1].")
    expect(page.get_by_role("list", name="Sources").get_by_role("link", name=source.id)).to_be_visible()
    # while a run is active the page draws the conversation each second; the image is fetched once
    assistant = client.beta.assistants.create(model="fake-model", tools=[WEATHER])
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content="And the weather?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    expect(page.get_by_role("status")).to_contain_text(f"Run {run.id} is waiting for tool outputs")
    page.wait_for_timeout(2500)
    assert page.api_calls.count(("GET", f"/v1/files/{image.id}/content")) == 1
    citation.click()
    expect(page.get_by_role("heading", name="handbook.txt")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    assert download.value.suggested_filename == "handbook.txt"
    assert Path(download.value.path()).read_bytes() == b"Refunds take 14 days."


def test_a_failed_runs_page_shows_its_error_and_an_active_thread_updates_live(server, model, page):
    client = server.client("sync", api_key=KEY_A)
    assistant = client.beta.assistants.create(model="fake-model")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    model.fail(400, "The fake provider refused this request.")
    failed = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert failed.status == "failed"
    log_in(page, server.url)
    page.goto(f"{server.url}/ui/#/threads/{thread.id}/runs/{failed.id}")
    expect(page.get_by_role("alert")).to_contain_text("The fake provider refused this request.")
    expect(page.get_by_text("Failed", exact=True)).to_be_visible()
    # a thread's page follows a run started elsewhere while it is in progress, then its end
    page.goto(f"{server.url}/ui/#/threads/{thread.id}")
    expect(page.get_by_role("link", name=failed.id)).to_be_visible()
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content="count slowly")
    with client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, stream=True) as events:
        run = next(e.data for e in events if e.event == "thread.run.in_progress")  # the run goes on without us
    status = page.get_by_role("status")
    expect(status).to_contain_text(f"Run {run.id} is in progress; updating live.", timeout=10_000)
    page.wait_for_timeout(1000)  # a few of its words written (one each 0.2 s), to be kept by the cancel
    client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    expect(status).to_be_hidden(timeout=10_000)  # no run active: the status line goes
    expect(page.get_by_role("row", name=re.compile(run.id))).to_contain_text("cancelled")
    expect(page.get_by_label("Conversation").locator(".message.assistant")).to_contain_text("one two")


def test_lists_page_back_and_forth(sql_server, page):
    client = sql_server.client("sync", api_key=KEY_A)
    threads = [client.beta.threads.create(metadata={"n": str(n)}).id for n in range(45)]
    log_in(page, sql_server.url)
    rows = page.locator("tbody tr")
    newer, older = page.get_by_role("link", name="← Newer"), page.get_by_role("link", name="Older →")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text(threads[44])
    expect(newer).to_have_count(0)
    older.click()
    expect(rows.first).to_contain_text(threads[24])
    expect(rows).to_have_count(20)
    older.click()
    expect(rows).to_have_count(5)
    expect(rows.last).to_contain_text(threads[0])
    expect(older).to_have_count(0)
    newer.click()
    expect(rows.first).to_contain_text(threads[24])
    newer.click()
    expect(rows.first).to_contain_text(threads[44])
    expect(rows).to_have_count(20)


def test_a_vector_stores_page_lists_its_files_and_searches_them(server, page):
    client = server.client("sync", api_key=KEY_A)
    refunds = b"Refunds take fourteen days from the day we receive the parcel."
    handbook = client.files.create(file=("handbook.txt", refunds), purpose="assistants")
    other = client.files.create(file=("menu.txt", b"The canteen serves soup on Mondays."), purpose="assistants")
    store = client.vector_stores.create(name="Policies")
    batch = client.vector_stores.file_batches.create_and_poll(vector_store_id=store.id,
                                                              file_ids=[handbook.id, other.id])
    assert batch.file_counts.completed == 2
    log_in(page, server.url)
    page.get_by_role("link", name="Vector stores").click()
    page.get_by_role("link", name=store.id).click()
    expect(page.get_by_role("heading", name="Policies")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(handbook.id))).to_contain_text("completed")
    page.get_by_label("Search this vector store").fill("how long do refunds take")
    page.get_by_role("button", name="Search").click()
    results = page.locator(".results li")
    expect(results.first).to_contain_text("handbook.txt")
    expect(results.first).to_contain_text("Refunds take fourteen days")
    screenshot(page, "vector-store")


def test_a_page_that_answers_late_does_not_cover_the_one_opened_since(server, page):
    client = server.client("sync", api_key=KEY_A)
    thread = client.beta.threads.create()
    storage = server.asgi.app.storage
    prompt = storage.get_thread

    async def slow_get_thread(thread_id):
        await asyncio.sleep(1.5)
        return await prompt(thread_id)

    log_in(page, server.url)
    storage.get_thread = slow_get_thread
    try:
        page.goto(f"{server.url}/ui/#/threads/{thread.id}")
        page.get_by_role("link", name="Files").click()
        expect(page.get_by_role("heading", name="Files")).to_be_visible()
        page.wait_for_timeout(2000)  # the thread's answer has come by now
        expect(page.get_by_role("heading", level=1)).to_have_text("Files")
    finally:
        storage.get_thread = prompt


def test_following_a_thread_survives_a_failed_update(server, page):
    client = server.client("sync", api_key=KEY_A)
    assistant = client.beta.assistants.create(model="fake-model")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "first"}])
    log_in(page, server.url)
    page.goto(f"{server.url}/ui/#/threads/{thread.id}")
    expect(page.get_by_label("Conversation").get_by_text("first")).to_be_visible()  # loaded: now it follows
    failures = []

    def once_a_bad_gateway(route):
        if not failures:
            failures.append(route.request.url)
            error = {"message": "Bad gateway", "type": "server_error", "param": None, "code": None}
            route.fulfill(status=502, content_type="application/json", body=json.dumps({"error": error}))
        else:
            route.fallback()

    page.route(re.compile(r"/v1/threads/[^/]+/runs\?limit=10$"), once_a_bad_gateway)
    status = page.get_by_role("status")
    expect(status).to_have_text("Could not update (Bad gateway); trying again.", timeout=10_000)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    expect(page.get_by_label("Conversation").get_by_text("You said: first")).to_be_visible(timeout=10_000)
    expect(page.get_by_role("row", name=re.compile(run.id))).to_contain_text("completed")
    expect(status).to_be_hidden()


def test_the_playground_shows_a_streams_error_event(server, page):
    client = server.client("sync", api_key=KEY_A)
    assistant = client.beta.assistants.create(model="fake-model")
    log_in(page, server.url)
    page.goto(f"{server.url}/ui/#/playground?assistant={assistant.id}")
    page.route(re.compile(r"/v1/threads/[^/]+/runs$"), lambda route: route.fulfill(
        status=200, content_type="text/event-stream",
        body='event: error\ndata: {"error": {"message": "The provider is down.", "type": "server_error"}}\n\n'))
    page.get_by_label("Message").fill("hello")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_have_text("The provider is down.")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def test_ids_in_the_address_stay_ids(server, page):
    client = server.client("sync", api_key=KEY_A)
    assistant = client.beta.assistants.create(model="fake-model")
    log_in(page, server.url)
    page.api_calls.clear()
    page.goto(f"{server.url}/ui/#/files/..%2Fassistants%2F{assistant.id}")
    # one path segment: the server reads it as a path it doesn't know, never as the assistant's
    expect(page.get_by_role("alert")).to_have_text(f"Invalid URL (GET /v1/files/../assistants/{assistant.id})")
    page.goto(f"{server.url}/ui/#/threads/..")
    expect(page.get_by_role("alert")).to_have_text('Not an id: "..".')
    page.goto(f"{server.url}/ui/#/threads/%E0%A4%A")  # not UTF-8 once decoded
    expect(page.get_by_role("heading", name="Something went wrong")).to_be_visible()
    assert not [path for _, path in page.api_calls if path.startswith("/v1/assistants/")], page.api_calls


def test_the_heading_takes_the_focus_once_and_updates_leave_it_alone(server, page):
    client = server.client("sync", api_key=KEY_A)
    assistant = client.beta.assistants.create(model="fake-model")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "count slowly"}])
    with client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, stream=True) as events:
        run = next(e.data for e in events if e.event == "thread.run.in_progress")
    log_in(page, server.url)
    page.goto(f"{server.url}/ui/#/threads/{thread.id}/runs/{run.id}")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(run.id)
    expect(heading).to_be_focused()  # a screen reader starts at the new page
    page.get_by_role("link", name="Threads").focus()
    page.wait_for_timeout(2500)  # the run page reads the run each second meanwhile
    expect(page.get_by_role("link", name="Threads")).to_be_focused()
    client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    expect(heading).to_contain_text("cancelled", timeout=10_000)
    expect(page.get_by_role("link", name="Threads")).to_be_focused()


def test_a_threads_runs_page_back_and_open_by_id(server, page):
    from supercompat.testing.storage import make_run

    client = server.client("sync", api_key=KEY_A)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    runs = [make_run(thread.id, status="completed") for _ in range(12)]
    for run in runs:
        server.call(server.asgi.app.storage.create_run(run, [])).result()
    log_in(page, server.url)
    page.goto(f"{server.url}/ui/#/threads/{thread.id}")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text(runs[11]["id"])
    page.get_by_label("Open a run of this thread by ID").fill(runs[0]["id"])  # kept while the page updates
    page.get_by_role("button", name="Older runs").click()
    expect(rows).to_have_count(12)
    expect(rows.last).to_contain_text(runs[0]["id"])
    expect(page.get_by_role("button", name="Older runs")).to_be_hidden()
    expect(page.get_by_label("Open a run of this thread by ID")).to_have_value(runs[0]["id"])
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(runs[0]["id"])
