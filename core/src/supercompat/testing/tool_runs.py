"""BuiltinToolTests: the engine's built-in tool loop through the real openai SDK (sync and async
clients, polling and streaming), with the ``test_lookup`` tool and the scripted model, on a storage.

Subclass it and override ``storage_adapter`` to run it on another store (the default is memory)::

    class TestMyStorageTools(BuiltinToolTests):
        @fixture
        def storage_adapter(self):
            return MyStorage(...)   # empty, for this test only
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import openai

from .. import async_supercompat, supercompat
from .contract import call, close_app, collect
from .kit import Kit, fixture, pytest
from .scripted import Reply, ScriptedClientAdapter, scripted_client_adapter
from .tools import IMAGE_FILE_ID, TYPE, LookupTool, file_id_of, marker

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}
LOOKUP = {"type": TYPE}
FINAL = f"See {marker(0, 'Paris notes')} and {marker(1, 'Rome')} for more."


def expected_annotations(text: str, file_ids: list[str]) -> list[dict[str, Any]]:
    """The file_citation annotations of the markers in ``text``, which cite ``file_ids`` in order."""
    return [{"type": "file_citation", "text": m.group(0), "file_citation": {"file_id": file_id},
             "start_index": m.start(), "end_index": m.end()}
            for m, file_id in zip(re.finditer(r"【[^】]*】", text), file_ids, strict=True)]


def annotations_of(block: Any) -> list[dict[str, Any]]:
    """A text block's annotations as plain dicts, without the stream's ``index``."""
    found = []
    for a in block.text.annotations:
        a = a if isinstance(a, dict) else a.model_dump(exclude_none=True)
        found.append({k: v for k, v in a.items() if k != "index"})
    return found


class _Recording:
    """What a stream showed: its events, and the SDK's accumulated snapshots at their last delta."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.messages: dict[str, Any] = {}  # message id -> snapshot after its last delta
        self.steps: dict[str, Any] = {}  # step id -> snapshot after its last delta

    @property
    def names(self) -> list[str]:
        """Event names, runs of message deltas counted once."""
        names: list[str] = []
        for event in self.events:
            if not (names and names[-1] == event.event == "thread.message.delta"):
                names.append(event.event)
        return names

    def step_deltas(self) -> list[dict[str, Any]]:
        return [e.data.delta.step_details.model_dump(exclude_unset=True, warnings=False)["tool_calls"][0]
                for e in self.events if e.event == "thread.run.step.delta"]


class _SyncRecorder(openai.AssistantEventHandler):
    def __init__(self, recording: _Recording) -> None:
        super().__init__()
        self.recording = recording

    def on_event(self, event: Any) -> None:
        self.recording.events.append(event)

    def on_message_delta(self, delta: Any, snapshot: Any) -> None:
        self.recording.messages[snapshot.id] = snapshot.model_copy(deep=True)

    def on_run_step_delta(self, delta: Any, snapshot: Any) -> None:
        self.recording.steps[snapshot.id] = snapshot.model_copy(deep=True)


class _AsyncRecorder(openai.AsyncAssistantEventHandler):
    def __init__(self, recording: _Recording) -> None:
        super().__init__()
        self.recording = recording

    async def on_event(self, event: Any) -> None:
        self.recording.events.append(event)

    async def on_message_delta(self, delta: Any, snapshot: Any) -> None:
        self.recording.messages[snapshot.id] = snapshot.model_copy(deep=True)

    async def on_run_step_delta(self, delta: Any, snapshot: Any) -> None:
        self.recording.steps[snapshot.id] = snapshot.model_copy(deep=True)


async def streamed(client: Any, method: str, **kwargs: Any) -> _Recording:
    """Run ``client.beta.threads.runs.<method>`` (``stream`` or ``submit_tool_outputs_stream``) through
    the SDK's stream helper with an event handler, to its end."""
    recording = _Recording()
    if isinstance(client, openai.AsyncOpenAI):
        async with getattr(client.beta.threads.runs, method)(event_handler=_AsyncRecorder(recording),
                                                             **kwargs) as stream:
            await stream.until_done()
    else:
        with getattr(client.beta.threads.runs, method)(event_handler=_SyncRecorder(recording), **kwargs) as stream:
            stream.until_done()
    return recording


class BuiltinToolTests(Kit, standard=True):
    @fixture
    def storage_adapter(self) -> Any:
        return None  # memory

    @fixture
    def provider(self) -> ScriptedClientAdapter:
        return scripted_client_adapter()

    @fixture
    def lookup(self) -> LookupTool:
        return LookupTool()

    @fixture(params=["sync-client", "async-client"])
    def client(self, request: pytest.FixtureRequest, provider: Any, lookup: LookupTool,
               storage_adapter: Any) -> Iterator[Any]:
        factory = supercompat if request.param == "sync-client" else async_supercompat
        client = factory(client_adapter=provider, storage_adapter=storage_adapter, tools=[lookup], max_retries=0)
        yield client
        close_app(client)

    async def _setup(self, client: Any, **assistant: Any) -> tuple[Any, Any]:
        a = await call(client.beta.assistants.create(model="test-model", tools=[LOOKUP, WEATHER], **assistant))
        t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "Paris or Rome?"}]))
        return a, t

    @staticmethod
    def _script_two_lookups_then_a_function(provider: Any) -> None:
        provider.script(Reply(text="Let me look.", tool_calls=[(TYPE, {"query": "Paris notes"})]),
                        Reply(tool_calls=[(TYPE, {"query": "Rome"})]),
                        Reply(tool_calls=[("get_weather", {"city": "Paris"})]),
                        Reply(text=FINAL))

    async def _steps(self, client: Any, t: Any, run: Any) -> list[Any]:
        return await collect(client.beta.threads.runs.steps.list(run.id, thread_id=t.id, order="asc"))

    async def _final_message(self, client: Any, t: Any) -> Any:
        return (await call(client.beta.threads.messages.list(t.id, limit=1))).data[0]

    # -- polling ------------------------------------------------------------------------------------
    async def test_two_lookups_then_a_function(self, client: Any, provider: Any) -> None:
        self._script_two_lookups_then_a_function(provider)
        a, t = await self._setup(client)
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "requires_action"
        [required] = run.required_action.submit_tool_outputs.tool_calls  # the function only
        assert (required.type, required.function.name) == ("function", "get_weather")

        steps = await self._steps(client, t, run)
        assert [(s.type, s.status) for s in steps] == [
            ("message_creation", "completed"), ("tool_calls", "completed"), ("tool_calls", "completed"),
            ("tool_calls", "in_progress")]
        lookups = [s.step_details.tool_calls[0] for s in steps[1:3]]
        assert [c.type for c in lookups] == [TYPE, TYPE]
        assert [getattr(c, TYPE)["query"] for c in lookups] == ["Paris notes", "Rome"]
        assert getattr(lookups[0], TYPE)["results"][0]["file_id"] == file_id_of("Paris notes")
        assert steps[3].step_details.tool_calls[0].function.output is None

        # Each lookup's output reached the model, and both were offered as functions beside the user's.
        assert sorted(t["function"]["name"] for t in provider.requests[0]["tools"]) == ["get_weather", TYPE]
        assert provider.requests[1]["messages"][-1] == {
            "role": "tool", "tool_call_id": lookups[0].id,
            "content": f"{marker(0, 'Paris notes')} All about Paris notes."}
        assert provider.requests[1]["messages"][-2] == {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": lookups[0].id, "type": "function",
             "function": {"name": TYPE, "arguments": '{"query": "Paris notes"}'}}]}
        assert provider.requests[2]["messages"][-1]["content"] == f"{marker(1, 'Rome')} All about Rome."

        run = await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": required.id, "output": "sunny"}]))
        assert run.status == "completed"
        sent = provider.requests[3]["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "tool", "assistant", "tool"]
        assert sent[-1] == {"role": "tool", "tool_call_id": required.id, "content": "sunny"}

        steps = await self._steps(client, t, run)
        assert [s.status for s in steps] == ["completed"] * 5
        assert getattr(steps[2].step_details.tool_calls[0], TYPE)["query"] == "Rome"  # kept by the submit
        # The run's usage is the sum of its model turns'.
        assert run.usage.total_tokens == sum(s.usage.total_tokens for s in steps if s.usage)

        answer = await self._final_message(client, t)
        assert answer.content[0].text.value == FINAL
        assert annotations_of(answer.content[0]) == expected_annotations(FINAL, [file_id_of("Paris notes"),
                                                                                  file_id_of("Rome")])

    async def test_a_parallel_turn_of_a_lookup_and_a_function(self, client: Any, provider: Any) -> None:
        """The lookup runs, the function goes to requires_action; the one step holds both in order."""
        provider.script(Reply(tool_calls=[(TYPE, {"query": "Paris notes"}), ("get_weather", {"city": "Paris"})]),
                        Reply(text=f"Per {marker(0, 'Paris notes')}: sunny."))
        a, t = await self._setup(client)
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "requires_action"
        assert [c.function.name for c in run.required_action.submit_tool_outputs.tool_calls] == ["get_weather"]
        [step] = await self._steps(client, t, run)
        lookup, function = step.step_details.tool_calls
        assert step.status == "in_progress" and (lookup.type, function.type) == (TYPE, "function")
        assert getattr(lookup, TYPE)["results"][0]["file_id"] == file_id_of("Paris notes")

        run = await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": function.id, "output": "sunny"}]))
        assert run.status == "completed"
        [step, _] = await self._steps(client, t, run)
        lookup_after, function_after = step.step_details.tool_calls
        assert getattr(lookup_after, TYPE) == getattr(lookup, TYPE) and function_after.function.output == "sunny"
        sent = provider.requests[1]["messages"]
        assert [c["id"] for c in sent[1]["tool_calls"]] == [lookup.id, function.id]  # one model turn, in order
        assert [(m["role"], m["tool_call_id"]) for m in sent[2:]] == [("tool", lookup.id), ("tool", function.id)]
        answer = await self._final_message(client, t)
        assert annotations_of(answer.content[0]) == expected_annotations(answer.content[0].text.value,
                                                                         [file_id_of("Paris notes")])

    async def test_a_later_run_is_shown_the_round(self, client: Any, provider: Any) -> None:
        provider.script(Reply(tool_calls=[(TYPE, {"query": "Rome"})]), Reply(text="Rome it is."), Reply(text="Sure."))
        a, t = await self._setup(client)
        first = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert first.status == "completed"
        await call(client.beta.threads.messages.create(t.id, role="user", content="And again?"))
        second = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert second.status == "completed"
        sent = provider.requests[-1]["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
        assert sent[1]["tool_calls"][0]["function"] == {"name": TYPE, "arguments": '{"query": "Rome"}'}
        # shown with its marker within its run, without it later: the second run couldn't resolve it
        assert provider.requests[1]["messages"][-1]["content"] == f"{marker(0, 'Rome')} All about Rome."
        assert sent[2]["content"] == "All about Rome."

    async def test_tool_choice_forces_the_first_turn_only(self, client: Any, provider: Any) -> None:
        provider.script(Reply(tool_calls=[(TYPE, {"query": "Rome"})]), Reply(text="Done."))
        a, t = await self._setup(client)
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id,
                                                                  tool_choice={"type": TYPE}))
        assert run.status == "completed"
        assert run.tool_choice == {"type": TYPE}  # the SDK keeps an unknown type as a dict
        assert provider.requests[0]["tool_choice"] == {"type": "function", "function": {"name": TYPE}}
        assert provider.requests[1]["tool_choice"] == "auto"

    async def test_an_image_from_a_tool_leads_the_next_message(self, client: Any, provider: Any) -> None:
        provider.script(Reply(tool_calls=[(TYPE, {"query": "Rome", "image": True})]),
                        Reply(text=f"A map: {marker(0, 'Rome')}"))
        a, t = await self._setup(client)
        recording = await streamed(client, "stream", thread_id=t.id, assistant_id=a.id)
        answer = await self._final_message(client, t)
        assert [c.type for c in answer.content] == ["image_file", "text"]
        assert answer.content[0].image_file.file_id == IMAGE_FILE_ID
        assert annotations_of(answer.content[1]) == expected_annotations(answer.content[1].text.value,
                                                                         [file_id_of("Rome")])
        snapshot = recording.messages[answer.id]  # the deltas, accumulated by the SDK, are the message
        assert [c.type for c in snapshot.content] == ["image_file", "text"]
        assert snapshot.content[1].text.value == answer.content[1].text.value
        assert annotations_of(snapshot.content[1]) == annotations_of(answer.content[1])

    async def test_an_image_before_the_users_functions_gets_a_message_of_its_own(self, client: Any,
                                                                                 provider: Any) -> None:
        provider.script(Reply(tool_calls=[(TYPE, {"query": "Rome", "image": True}), ("get_weather", {"city": "Rome"})]),
                        Reply(text="Sunny."))
        a, t = await self._setup(client)
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "requires_action"
        [image] = (await call(client.beta.threads.messages.list(t.id, run_id=run.id))).data
        assert [c.type for c in image.content] == ["image_file"] and image.status == "completed"
        [function] = run.required_action.submit_tool_outputs.tool_calls
        run = await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": function.id, "output": "sunny"}]))
        answer, first = (await call(client.beta.threads.messages.list(t.id, run_id=run.id))).data
        assert first.id == image.id and [c.type for c in answer.content] == ["text"]  # shown once
        # The image-only message isn't sent: the turn's calls, then their results.
        assert [m["role"] for m in provider.requests[-1]["messages"]] == ["user", "assistant", "tool", "tool"]

    # -- streaming ----------------------------------------------------------------------------------
    async def test_streamed_steps_deltas_and_annotations(self, client: Any, provider: Any) -> None:
        self._script_two_lookups_then_a_function(provider)
        a, t = await self._setup(client)
        first = await streamed(client, "stream", thread_id=t.id, assistant_id=a.id)
        tool_segment = ["thread.run.step.created", "thread.run.step.in_progress", "thread.run.step.delta",
                        "thread.run.step.delta", "thread.run.step.delta", "thread.run.step.completed"]
        assert first.names == [
            "thread.run.created", "thread.run.queued", "thread.run.in_progress",
            "thread.run.step.created", "thread.run.step.in_progress", "thread.message.created",
            "thread.message.in_progress", "thread.message.delta", "thread.message.completed",
            "thread.run.step.completed", *tool_segment, *tool_segment,
            "thread.run.step.created", "thread.run.step.in_progress", "thread.run.step.delta",
            "thread.run.step.delta", "thread.run.requires_action"]
        deltas = first.step_deltas()
        # A built-in call is announced with its own type, never as a function, then its fragments.
        assert deltas[0] == {"index": 0, "id": deltas[0]["id"], "type": TYPE, TYPE: {}}
        assert deltas[1] == {"index": 0, "type": TYPE, TYPE: {"query": "Paris notes"}}
        assert deltas[2]["type"] == TYPE and deltas[2][TYPE]["results"][0]["file_id"] == file_id_of("Paris notes")
        assert [d["type"] for d in deltas] == [TYPE] * 6 + ["function"] * 2
        run = first.events[-1].data
        assert run.status == "requires_action"
        [required] = run.required_action.submit_tool_outputs.tool_calls
        assert required.function.name == "get_weather"

        # What the SDK accumulated from the step deltas is what the steps store.
        steps = {s.id: s for s in await self._steps(client, t, run)}
        for step_id, snapshot in first.steps.items():
            stored = steps[step_id].step_details.tool_calls[0]
            accumulated = snapshot.step_details.tool_calls[0]
            if stored.type == TYPE:
                body = getattr(accumulated, TYPE)
                assert body["query"] == getattr(stored, TYPE)["query"]
                assert [{k: v for k, v in r.items() if k != "index"} for r in body["results"]] == \
                    getattr(stored, TYPE)["results"]

        second = await streamed(client, "submit_tool_outputs_stream", thread_id=t.id, run_id=run.id,
                                tool_outputs=[{"tool_call_id": required.id, "output": "sunny"}])
        assert second.events[-1].event == "thread.run.completed"
        answer = await self._final_message(client, t)
        snapshot = second.messages[answer.id]
        assert snapshot.content[0].text.value == answer.content[0].text.value == FINAL
        assert annotations_of(snapshot.content[0]) == annotations_of(answer.content[0]) == expected_annotations(
            FINAL, [file_id_of("Paris notes"), file_id_of("Rome")])
        # Every annotation arrives whole, in one delta, with the message's own indexes.
        sent = [a for e in second.events if e.event == "thread.message.delta"
                for c in e.data.delta.content for a in (c.text.annotations or ())]
        assert [a.index for a in sent] == [0, 1]
        assert all(a.start_index is not None and a.end_index is not None and a.file_citation.file_id for a in sent)

    # -- cancel and failure ---------------------------------------------------------------------------
    async def test_a_cancel_during_a_slow_tool_ends_the_run_promptly(self, client: Any, provider: Any,
                                                                  lookup: LookupTool) -> None:
        provider.script(Reply(tool_calls=[(TYPE, {"query": "Rome", "sleep": 60})]))
        a, t = await self._setup(client)
        run = await call(client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id))
        deadline = time.monotonic() + 20
        while not lookup.started:
            assert time.monotonic() < deadline, "the tool never started"
            await asyncio.sleep(0.01)
        await call(client.beta.threads.runs.cancel(run.id, thread_id=t.id))
        run = await call(client.beta.threads.runs.poll(run.id, thread_id=t.id))
        assert run.status == "cancelled"
        assert lookup.cancelled == lookup.started  # interrupted, not waited for: the sleep was 60 s
        [step] = await self._steps(client, t, run)
        assert step.status == "cancelled" and step.cancelled_at
        [call_] = step.step_details.tool_calls
        assert call_.type == TYPE and call_.id == lookup.started[0]

    async def test_a_failing_tool_fails_the_run(self, client: Any, provider: Any) -> None:
        provider.script(Reply(tool_calls=[(TYPE, {"query": "Rome", "fail": "the index is gone"})]))
        a, t = await self._setup(client)
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "failed" and run.last_error.code == "server_error"
        assert "the index is gone" in run.last_error.message
        [step] = await self._steps(client, t, run)
        assert step.status == "failed" and "the index is gone" in step.last_error.message
        assert len(provider.requests) == 1  # the model wasn't asked again
        # The thread stays usable.
        provider.script(Reply(text="Hello."))
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "completed"
        assert json.dumps(provider.requests[-1]["messages"]).count("tool_call") == 0  # a failed round isn't replayed
