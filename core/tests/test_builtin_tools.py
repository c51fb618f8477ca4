"""Built-in tools in the run engine: the BuiltinToolTests kit on memory, and what isn't storage's."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest

from supercompat import async_supercompat, supercompat
from supercompat.loop import run_sync
from supercompat.runs import ImageFile, TextDelta, TurnEnd
from supercompat.testing import BuiltinToolTests, Reply, app_of, scripted_client_adapter
from supercompat.testing.tool_runs import LOOKUP, WEATHER, streamed
from supercompat.testing.tools import IMAGE_FILE_ID, TYPE, LookupTool
from supercompat.tools import Replay, ToolDelta, ToolResult

from conftest import call, collect, storage_closed_by_the_app

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it


class TestMemory(BuiltinToolTests):
    @pytest.fixture
    def storage_adapter(self):
        yield from storage_closed_by_the_app()


@pytest.fixture(params=["sync", "async"])
def factory(request):
    return supercompat if request.param == "sync" else async_supercompat


async def test_tool_types_with_an_executor_are_valid_others_are_not(factory):
    with_lookup = factory(tools=[LookupTool()], max_retries=0)
    a = await call(with_lookup.beta.assistants.create(model="m", tools=[LOOKUP, {"type": TYPE, TYPE: {}}]))
    assert [t.type for t in a.tools] == [TYPE, TYPE]
    for client, tools, param in [(with_lookup, [{"type": "nope"}], "tools[0].type"),
                                 (with_lookup, [{"type": TYPE, TYPE: "x"}], f"tools[0].{TYPE}"),
                                 (factory(tools=[], max_retries=0), [LOOKUP], "tools[0].type")]:
        with pytest.raises(openai.BadRequestError) as info:
            await call(client.beta.assistants.create(model="m", tools=tools))
        assert info.value.body["param"] == param
    t = await call(with_lookup.beta.threads.create())
    with pytest.raises(openai.BadRequestError) as info:
        await call(with_lookup.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id,
                                                        tool_choice={"type": "nope"}))
    assert info.value.body["param"] == "tool_choice.type"


def test_a_run_without_the_tool_in_its_tools_isnt_offered_it():
    provider = scripted_client_adapter(["Hi."])
    client = supercompat(client_adapter=provider, tools=[LookupTool()], max_retries=0)
    a = client.beta.assistants.create(model="m", tools=[WEATHER])
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    assert client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id).status == "completed"
    assert [t["function"]["name"] for t in provider.requests[0]["tools"]] == ["get_weather"]


def test_a_user_function_of_the_same_name_wins():
    provider = scripted_client_adapter([Reply(tool_calls=[(TYPE, {"query": "x"})])])
    client = supercompat(client_adapter=provider, tools=[LookupTool()], max_retries=0)
    mine = {"type": "function", "function": {"name": TYPE, "parameters": {"type": "object", "properties": {}}}}
    a = client.beta.assistants.create(model="m", tools=[LOOKUP, mine])
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "requires_action"
    assert [t["function"] for t in provider.requests[0]["tools"]] == [mine["function"]]


def test_shutdown_during_a_slow_tool_fails_the_run():
    lookup = LookupTool()
    provider = scripted_client_adapter([Reply(tool_calls=[(TYPE, {"query": "Rome", "sleep": 60})])])
    client = supercompat(client_adapter=provider, tools=[lookup], max_retries=0)
    a = client.beta.assistants.create(model="m", tools=[LOOKUP])
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id)
    deadline = time.monotonic() + 20
    while not lookup.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    app = app_of(client)
    storage = app.storage
    run_sync(app.aclose(grace=0))
    stored = run_sync(storage.get_run(t.id, run.id))
    assert stored["status"] == "failed" and "shut down" in stored["last_error"]["message"]
    assert lookup.cancelled == lookup.started


async def _run(client: Any, **options: Any) -> tuple[Any, Any]:
    """A run of an assistant offered the lookup tool and the user's function, polled to where it stops."""
    a = await call(client.beta.assistants.create(model="m", tools=[LOOKUP, WEATHER]))
    t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "hi"}]))
    return t, await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, **options))


async def test_a_model_that_keeps_calling_built_in_tools_is_stopped(factory):
    provider = scripted_client_adapter([Reply(tool_calls=[(TYPE, {"query": f"q{i}"})]) for i in range(5)])
    client = factory(client_adapter=provider, tools=[LookupTool()], max_retries=0)
    assert app_of(client).engine.max_tool_rounds == 20  # the default
    app_of(client).engine.max_tool_rounds = 3
    t, run = await _run(client)
    assert run.status == "failed" and run.last_error.code == "server_error"
    assert "The model called built-in tools 3 times in a row without answering" in run.last_error.message
    assert len(provider.requests) == 3  # not asked a fourth time
    steps = await collect(client.beta.threads.runs.steps.list(run.id, thread_id=t.id, order="asc"))
    assert [(s.type, s.status) for s in steps] == [("tool_calls", "completed")] * 3
    assert (await call(client.beta.threads.messages.list(t.id, run_id=run.id))).data == []


async def test_images_of_a_run_that_fails_are_kept_in_an_incomplete_message(factory):
    provider = scripted_client_adapter([Reply(tool_calls=[(TYPE, {"query": "Rome", "image": True})])])
    client = factory(client_adapter=provider, tools=[LookupTool()], max_retries=0)
    app_of(client).engine.max_tool_rounds = 1
    t, run = await _run(client)
    assert run.status == "failed"
    [message] = (await call(client.beta.threads.messages.list(t.id, run_id=run.id))).data
    assert message.status == "incomplete" and message.incomplete_details.reason == "run_failed"
    assert [(c.type, c.image_file.file_id) for c in message.content] == [("image_file", IMAGE_FILE_ID)]


async def test_images_of_a_run_that_ends_incomplete_are_kept_in_its_incomplete_message(factory):
    provider = scripted_client_adapter([Reply(tool_calls=[(TYPE, {"query": "Rome", "image": True})]),
                                        Reply(tool_calls=[(TYPE, {"query": "Paris"})], finish_reason="length")])
    client = factory(client_adapter=provider, tools=[LookupTool()], max_retries=0)
    t, run = await _run(client, max_completion_tokens=50)
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_completion_tokens"
    [message] = (await call(client.beta.threads.messages.list(t.id, run_id=run.id))).data
    assert message.status == "incomplete" and message.incomplete_details.reason == "max_tokens"
    assert [(c.type, c.image_file.file_id) for c in message.content] == [("image_file", IMAGE_FILE_ID)]


async def test_a_forced_function_is_forced_again_after_each_submit(factory):
    """``tool_choice`` binds each segment's first model turn: after a submit too (a built-in tool's
    once per segment: see BuiltinToolTests.test_tool_choice_forces_the_first_turn_only)."""
    provider = scripted_client_adapter([Reply(tool_calls=[("get_weather", {"city": "Rome"})]),
                                        Reply(tool_calls=[("get_weather", {"city": "Paris"})])])
    client = factory(client_adapter=provider, tools=[LookupTool()], max_retries=0)
    t, run = await _run(client, tool_choice="required")
    assert run.status == "requires_action"
    [required] = run.required_action.submit_tool_outputs.tool_calls
    run = await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": required.id, "output": "sunny"}]))
    assert run.status == "requires_action"
    assert [r["tool_choice"] for r in provider.requests] == ["required", "required"]


class AnnotatingAdapter:
    """A run adapter that annotates its own text and adds an image part, as a provider-native one may."""

    async def run_turn(self, ctx: Any):
        yield TextDelta("Open ")
        yield TextDelta("data.csv now", annotations=({"type": "file_path", "text": "data.csv",
                                                      "file_path": {"file_id": "file-data"},
                                                      "start_index": 0, "end_index": 8},))
        yield ImageFile("file-chart")
        yield TextDelta("Done.")
        yield TurnEnd("stop")


async def test_a_run_adapters_annotations_and_images_reach_the_message(factory):
    client = factory(run_adapter=AnnotatingAdapter(), tools=[], max_retries=0)
    a = await call(client.beta.assistants.create(model="m"))
    t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "hi"}]))
    recording = await streamed(client, "stream", thread_id=t.id, assistant_id=a.id)
    [message] = [m for m in (await call(client.beta.threads.messages.list(t.id))).data if m.role == "assistant"]
    assert [c.type for c in message.content] == ["text", "image_file", "text"]
    first, image, last = message.content
    assert first.text.value == "Open data.csv now" and last.text.value == "Done."
    [note] = first.text.annotations
    assert (note.type, note.text, note.start_index, note.end_index, note.file_path.file_id) == (
        "file_path", "data.csv", 5, 13, "file-data")
    assert first.text.value[note.start_index:note.end_index] == note.text
    assert image.image_file.file_id == "file-chart"
    snapshot = recording.messages[message.id]
    assert [c.type for c in snapshot.content] == ["text", "image_file", "text"]
    assert snapshot.content[0].text.annotations[0].start_index == 5
    assert snapshot.content[2].text.value == "Done."


class CodeLike:
    """An executor shaped like code_interpreter: its ``input`` streams while the model writes it."""

    type = "test_code"

    def function(self, tool: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        return {"name": "run_code", "parameters": {"type": "object", "properties": {"code": {"type": "string"}}}}

    @staticmethod
    def _code(arguments: str) -> str:
        try:
            return json.loads(arguments).get("code", "")
        except ValueError:  # still being written: whatever of the string has arrived
            return arguments.partition('"code": "')[2].rstrip('"}')  # (the test's code has no escapes)

    def arguments_delta(self, before: str, after: str) -> dict[str, Any] | None:
        new = self._code(after)[len(self._code(before)):]
        return {"input": new} if new else None

    async def execute(self, call: Any, context: Any):
        yield ToolDelta({"outputs": [{"index": 0, "type": "logs", "logs": "2\n"}]})
        yield ToolResult({"input": self._code(call.arguments), "outputs": [{"type": "logs", "logs": "2\n"}]})

    def replay(self, details: dict[str, Any], ordinal: int) -> Replay:
        return Replay("run_code", json.dumps({"code": details["input"]}), details["outputs"][0]["logs"])


class SplitArguments:
    """The scripted model, its tool-call arguments sent in pieces of ``size`` characters."""

    def __init__(self, size: int, *replies: Any) -> None:
        self.scripted, self.size = scripted_client_adapter(list(replies)), size
        self.requests = self.scripted.requests

    async def chat_completions_stream(self, params: dict[str, Any]):
        async for chunk in self.scripted.chat_completions_stream(params):
            calls = chunk["choices"][0]["delta"].get("tool_calls") if chunk["choices"] else None
            arguments = calls[0]["function"].get("arguments") if calls else ""
            if not arguments or "id" in calls[0]:
                yield chunk
                continue
            for start in range(0, len(arguments), self.size):
                piece = {**calls[0], "function": {"arguments": arguments[start:start + self.size]}}
                yield {**chunk, "choices": [{**chunk["choices"][0], "delta": {"tool_calls": [piece]}}]}


async def test_a_built_in_call_can_stream_its_arguments_as_they_are_written(factory):
    provider = SplitArguments(5, Reply(tool_calls=[("run_code", {"code": 'print(1 + 1)'})]), Reply(text="2."))
    client = factory(client_adapter=provider, tools=[CodeLike()], max_retries=0)
    a = await call(client.beta.assistants.create(model="m", tools=[{"type": "test_code"}]))
    t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "1+1?"}]))
    recording = await streamed(client, "stream", thread_id=t.id, assistant_id=a.id)
    assert recording.events[-1].event == "thread.run.completed"
    deltas = recording.step_deltas()
    inputs = [d["test_code"].get("input") for d in deltas if d["test_code"].get("input")]
    assert len(inputs) > 2 and "".join(inputs) == 'print(1 + 1)'  # in pieces, as the model wrote it
    assert all(d["type"] == "test_code" for d in deltas)
    steps = await call(client.beta.threads.runs.steps.list(recording.events[-1].data.id, thread_id=t.id))
    [step] = [s for s in steps.data if s.type == "tool_calls"]
    stored = step.step_details.tool_calls[0].test_code
    assert stored == {"input": 'print(1 + 1)', "outputs": [{"type": "logs", "logs": "2\n"}]}
    accumulated = recording.steps[step.id].step_details.tool_calls[0].test_code  # what the SDK made of the deltas
    assert accumulated["input"] == stored["input"]
    assert [{k: v for k, v in o.items() if k != "index"} for o in accumulated["outputs"]] == stored["outputs"]
    assert provider.requests[1]["messages"][-1]["content"] == "2\n"


def test_marker_annotator_holds_only_what_may_still_become_a_marker():
    import re

    from supercompat.tools import MarkerAnnotator, file_citation

    known = {"0": "file-a"}
    annotator = MarkerAnnotator(re.compile(r"【(\d+)†[^】]*】"), "【",
                                lambda m: file_citation(m.group(0), known[m.group(1)]) if m.group(1) in known else None,
                                longest=10, closing="】")
    assert annotator.hold("see 【0†a") == 4  # an open marker waits
    assert annotator.hold("see 【0†a】 then") == 0  # a closed one doesn't
    assert annotator.hold("see 【" + "x" * 20) == 0  # nor one longer than any marker
    # an unknown one is found without an annotation: the engine removes it from the text
    assert annotator.find("【0†a】 and 【7†b】") == [(0, 5, file_citation("【0†a】", "file-a")), (10, 15, None)]


def test_a_tool_choice_of_a_type_the_run_doesnt_offer_is_auto():
    """file_search has no executor yet: forcing it must not send the provider a choice it can't read."""
    provider = scripted_client_adapter(["Hi."])
    client = supercompat(client_adapter=provider, tools=[LookupTool()], max_retries=0)
    a = client.beta.assistants.create(model="m", tools=[WEATHER, {"type": "file_search"}])
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id,
                                                   tool_choice={"type": "file_search"})
    assert run.status == "completed" and provider.requests[0]["tool_choice"] == "auto"
    assert [t["function"]["name"] for t in provider.requests[0]["tools"]] == ["get_weather"]
