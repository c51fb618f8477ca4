"""Streams through the SDK's raw iterators and AssistantEventHandler, sync and async."""

from __future__ import annotations

import json

import pytest
from openai import AssistantEventHandler, AsyncAssistantEventHandler

from supercompat import async_supercompat, supercompat
from supercompat.testing import Reply, scripted_client_adapter

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}

# OpenAI's documented order for a text turn.
TEXT_RUN = ["thread.run.created", "thread.run.queued", "thread.run.in_progress", "thread.run.step.created",
            "thread.run.step.in_progress", "thread.message.created", "thread.message.in_progress",
            "thread.message.delta", "thread.message.completed", "thread.run.step.completed",
            "thread.run.completed"]
TOOL_RUN = ["thread.run.created", "thread.run.queued", "thread.run.in_progress", "thread.run.step.created",
            "thread.run.step.in_progress", "thread.run.step.delta", "thread.run.requires_action"]
AFTER_TOOLS = ["thread.run.queued", "thread.run.in_progress", "thread.run.step.completed",
               "thread.run.step.created", "thread.run.step.in_progress", "thread.message.created",
               "thread.message.in_progress", "thread.message.delta", "thread.message.completed",
               "thread.run.step.completed", "thread.run.completed"]


def squash(events: list[str]) -> list[str]:
    """Collapse repeated deltas so orders compare regardless of how many pieces arrived."""
    out: list[str] = []
    for e in events:
        if not (out and out[-1] == e and e.endswith(".delta")):
            out.append(e)
    return out


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple] = []

    def on_event(self, event):
        self.log.append(("event", event.event))

    def on_text_delta(self, delta, snapshot):
        self.log.append(("text_delta", delta.value, snapshot.value))

    def on_tool_call_created(self, tool_call):
        self.log.append(("tool_call_created", tool_call.id, tool_call.function.name))

    def on_tool_call_delta(self, delta, snapshot):
        self.log.append(("tool_call_delta", snapshot.function.arguments))

    def on_tool_call_done(self, tool_call):
        self.log.append(("tool_call_done", tool_call.function.arguments))


class AsyncRecorder(AsyncAssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple] = []

    async def on_event(self, event):
        self.log.append(("event", event.event))

    async def on_text_delta(self, delta, snapshot):
        self.log.append(("text_delta", delta.value, snapshot.value))

    async def on_tool_call_created(self, tool_call):
        self.log.append(("tool_call_created", tool_call.id, tool_call.function.name))

    async def on_tool_call_delta(self, delta, snapshot):
        self.log.append(("tool_call_delta", snapshot.function.arguments))

    async def on_tool_call_done(self, tool_call):
        self.log.append(("tool_call_done", tool_call.function.arguments))


def events(log):
    return [entry[1] for entry in log if entry[0] == "event"]


def test_text_run_stream_with_handler_sync():
    client = supercompat(client_adapter=scripted_client_adapter(["Hello there, world"]))
    a = client.beta.assistants.create(model="m")
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=a.id, event_handler=Recorder()) as stream:
        stream.until_done()
        run = stream.get_final_run()
        messages = stream.get_final_messages()
        log = stream.log
    assert squash(events(log)) == TEXT_RUN
    assert run.status == "completed"
    assert [m.content[0].text.value for m in messages] == ["Hello there, world"]
    snapshots = [entry[2] for entry in log if entry[0] == "text_delta"]
    assert snapshots[-1] == "Hello there, world" and len(snapshots) == 3


async def test_text_run_stream_with_handler_async():
    client = async_supercompat(client_adapter=scripted_client_adapter(["Hello there, world"]))
    a = await client.beta.assistants.create(model="m")
    t = await client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    async with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=a.id,
                                               event_handler=AsyncRecorder()) as stream:
        await stream.until_done()
        run = await stream.get_final_run()
        messages = await stream.get_final_messages()
    assert squash(events(stream.log)) == TEXT_RUN
    assert run.status == "completed" and messages[0].content[0].text.value == "Hello there, world"


def test_tool_run_stream_and_submit_tool_outputs_stream_sync():
    scripted = scripted_client_adapter([Reply(tool_calls=[("get_weather", {"city": "Paris"}),
                                                          ("get_weather", {"city": "Rome"})]), "Both sunny."])
    client = supercompat(client_adapter=scripted)
    a = client.beta.assistants.create(model="m", tools=[WEATHER])
    t = client.beta.threads.create(messages=[{"role": "user", "content": "weather?"}])
    with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=a.id, event_handler=Recorder()) as stream:
        stream.until_done()
        run = stream.get_final_run()
        log = stream.log
    assert squash(events(log)) == TOOL_RUN
    assert run.status == "requires_action"
    created = [e for e in log if e[0] == "tool_call_created"]
    assert [e[2] for e in created] == ["get_weather", "get_weather"] and created[0][1] != created[1][1]
    done = [json.loads(e[1]) for e in log if e[0] == "tool_call_done"]
    assert done == [{"city": "Paris"}, {"city": "Rome"}]
    assert [e for e in log if e[0] == "tool_call_delta"]  # later fragments reach on_tool_call_delta
    outputs = [{"tool_call_id": c.id, "output": "sunny"} for c in run.required_action.submit_tool_outputs.tool_calls]
    with client.beta.threads.runs.submit_tool_outputs_stream(run_id=run.id, thread_id=t.id, tool_outputs=outputs,
                                                             event_handler=Recorder()) as stream:
        stream.until_done()
        final = stream.get_final_run()
        log = stream.log
        messages = stream.get_final_messages()
    assert squash(events(log)) == AFTER_TOOLS
    assert final.status == "completed" and messages[-1].content[0].text.value == "Both sunny."


async def test_tool_run_stream_and_submit_tool_outputs_stream_async():
    scripted = scripted_client_adapter([Reply(tool_calls=[("get_weather", {"city": "Paris"})]), "Sunny."])
    client = async_supercompat(client_adapter=scripted)
    a = await client.beta.assistants.create(model="m", tools=[WEATHER])
    t = await client.beta.threads.create(messages=[{"role": "user", "content": "weather?"}])
    async with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=a.id,
                                               event_handler=AsyncRecorder()) as stream:
        await stream.until_done()
        run = await stream.get_final_run()
    assert squash(events(stream.log)) == TOOL_RUN
    cid = run.required_action.submit_tool_outputs.tool_calls[0].id
    async with client.beta.threads.runs.submit_tool_outputs_stream(
            run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": cid, "output": "18C"}],
            event_handler=AsyncRecorder()) as stream:
        await stream.until_done()
        final = await stream.get_final_run()
    assert squash(events(stream.log)) == AFTER_TOOLS and final.status == "completed"


def test_raw_stream_deltas_concatenate_to_the_completed_message():
    client = supercompat(client_adapter=scripted_client_adapter(["one two three four five"]))
    a = client.beta.assistants.create(model="m")
    t = client.beta.threads.create(messages=[{"role": "user", "content": "count"}])
    stream = client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id, stream=True)
    received = list(stream)
    names = [e.event for e in received]
    assert squash(names) == TEXT_RUN
    text = "".join(e.data.delta.content[0].text.value for e in received if e.event == "thread.message.delta")
    completed = next(e.data for e in received if e.event == "thread.message.completed")
    assert text == completed.content[0].text.value == "one two three four five"
    assert received[-1].data.usage is not None


async def test_create_and_run_stream_starts_with_thread_created():
    client = async_supercompat(client_adapter=scripted_client_adapter(["ok"]))
    a = await client.beta.assistants.create(model="m")
    stream = await client.beta.threads.create_and_run(
        assistant_id=a.id, thread={"messages": [{"role": "user", "content": "hi"}]}, stream=True)
    names = [e.event async for e in stream]
    assert squash(names) == ["thread.created", *TEXT_RUN]


def test_create_and_run_stream_helper_sync():
    client = supercompat(client_adapter=scripted_client_adapter(["ok"]))
    a = client.beta.assistants.create(model="m")
    with client.beta.threads.create_and_run_stream(
            assistant_id=a.id, thread={"messages": [{"role": "user", "content": "hi"}]}) as stream:
        stream.until_done()
        assert stream.get_final_run().status == "completed"


def test_failure_in_a_stream_is_a_failed_run_event():
    class Failing:
        async def chat_completions_stream(self, params):
            from supercompat.errors import APIError
            raise APIError("upstream overloaded", status=503)
            yield  # pragma: no cover

    client = supercompat(client_adapter=Failing())
    a = client.beta.assistants.create(model="m")
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=a.id) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert run.status == "failed" and run.last_error.message == "upstream overloaded"


def test_closing_a_stream_early_does_not_stop_the_run():
    client = supercompat(client_adapter=scripted_client_adapter(["a b c d e f"]))
    a = client.beta.assistants.create(model="m")
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    stream = client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id, stream=True)
    first = next(iter(stream))
    stream.close()
    run = client.beta.threads.runs.poll(first.data.id, thread_id=t.id)
    assert run.status == "completed"
