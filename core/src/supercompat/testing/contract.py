"""AssistantsContractTests: the Assistants API behaviour users rely on, through the real openai SDK
(sync and async clients), with a given client adapter behind it.

Subclass it with the same ``scripted_provider`` fixture as ClientAdapterTests (``.adapter``,
``.script(*Reply)``, ``.fail(status, message)``), and optionally override ``storage_adapter`` to run
the contract on another store.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from typing import Any

import openai

from .. import async_supercompat, supercompat
from ..loop import run_sync
from . import app_of
from .kit import Kit, fixture, mark, pytest
from .scripted import Reply

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


async def call(value: Any) -> Any:
    """Await what the async client returns; pass the sync client's results through."""
    return await value if inspect.isawaitable(value) else value


async def collect(paginator: Any) -> list[Any]:
    """Every item of an SDK list or stream, through the SDK's own iterator, sync or async."""
    if hasattr(paginator, "__aiter__"):
        return [x async for x in paginator]
    return list(paginator)


def close_app(client: Any) -> None:
    """Close the App behind a ``supercompat()`` / ``async_supercompat()`` client on the loop it runs on:
    its runs, then its lease heartbeat, then its storage. A kit's ``client`` fixture does it at
    teardown, before the ``storage_adapter`` fixture (which the client depends on) closes the store."""
    run_sync(app_of(client).aclose(grace=0))


class AssistantsContractTests(Kit, standard=True):
    @fixture
    def scripted_provider(self) -> Any:  # pragma: no cover - subclasses override
        raise NotImplementedError("provide a `scripted_provider` fixture")

    @fixture
    def storage_adapter(self) -> Any:
        return None  # memory

    @fixture(params=["sync-client", "async-client"])
    def client(self, request: pytest.FixtureRequest, scripted_provider: Any, storage_adapter: Any) -> Iterator[Any]:
        factory = supercompat if request.param == "sync-client" else async_supercompat
        client = factory(client_adapter=scripted_provider.adapter, storage_adapter=storage_adapter, max_retries=0)
        yield client
        close_app(client)

    async def _setup(self, client: Any, **assistant: Any) -> tuple[Any, Any]:
        a = await call(client.beta.assistants.create(model="test-model", instructions="Be brief.", **assistant))
        t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "Weather in Paris?"}]))
        return a, t

    async def test_crud_round_trip_and_paging(self, client: Any) -> None:
        a = await call(client.beta.assistants.create(model="test-model", name="n", tools=[WEATHER],
                                                     metadata={"k": "v"}))
        assert await call(client.beta.assistants.retrieve(a.id)) == a
        t = await call(client.beta.threads.create())
        for i in range(5):
            await call(client.beta.threads.messages.create(t.id, role="user", content=f"m{i}"))
        listed = await collect(client.beta.threads.messages.list(t.id, limit=2, order="asc"))
        assert [m.content[0].text.value for m in listed] == [f"m{i}" for i in range(5)]
        with pytest.raises(openai.NotFoundError):
            await call(client.beta.threads.retrieve("thread_missing"))

    async def test_text_run(self, client: Any, scripted_provider: Any) -> None:
        scripted_provider.script(Reply(text="Sunny and mild."))
        a, t = await self._setup(client)
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "completed", run.last_error
        assert run.usage is not None and run.usage.total_tokens > 0
        message = (await call(client.beta.threads.messages.list(t.id))).data[0]
        assert message.content[0].text.value == "Sunny and mild." and message.run_id == run.id

    async def test_streamed_text_run(self, client: Any, scripted_provider: Any) -> None:
        scripted_provider.script(Reply(text="one two three"))
        a, t = await self._setup(client)
        stream = await call(client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id, stream=True))
        events = await collect(stream)
        names = [e.event for e in events]
        assert names[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
        assert names[-1] == "thread.run.completed"
        text = "".join(e.data.delta.content[0].text.value for e in events if e.event == "thread.message.delta")
        completed = next(e.data for e in events if e.event == "thread.message.completed")
        assert text == completed.content[0].text.value == "one two three"

    async def test_parallel_tool_round_trip(self, client: Any, scripted_provider: Any) -> None:
        scripted_provider.script(Reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_time", {})]),
                                 Reply(text="Done."))
        a, t = await self._setup(client, tools=[WEATHER, TIME])
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "requires_action", run.last_error
        calls = run.required_action.submit_tool_outputs.tool_calls
        assert [c.function.name for c in calls] == ["get_weather", "get_time"]
        assert json.loads(calls[0].function.arguments) == {"city": "Paris"} and calls[0].id != calls[1].id
        run = await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=t.id,
            tool_outputs=[{"tool_call_id": c.id, "output": f"out-{c.function.name}"} for c in calls]))
        assert run.status == "completed", run.last_error
        steps = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=t.id, order="asc"))).data
        assert [s.type for s in steps] == ["tool_calls", "message_creation"]
        assert [c.function.output for c in steps[0].step_details.tool_calls] == ["out-get_weather", "out-get_time"]
        messages = (await call(client.beta.threads.messages.list(t.id, run_id=run.id))).data
        assert [m.content[0].text.value for m in messages] == ["Done."]

    async def test_cancel_while_waiting_for_tools(self, client: Any, scripted_provider: Any) -> None:
        scripted_provider.script(Reply(tool_calls=[("get_weather", {"city": "Rome"})]))
        a, t = await self._setup(client, tools=[WEATHER])
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "requires_action"
        run = await call(client.beta.threads.runs.cancel(run.id, thread_id=t.id))
        assert run.status == "cancelled"

    @mark.parametrize("status, code", [(500, "server_error"), (429, "rate_limit_exceeded")])
    async def test_provider_failure_fails_the_run(self, client: Any, scripted_provider: Any, status: int,
                                                  code: str) -> None:
        scripted_provider.fail(status, "provider says no")
        a, t = await self._setup(client)
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "failed" and run.last_error.code == code
        assert "provider says no" in run.last_error.message
        scripted_provider.script(Reply(text="Recovered."))
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "completed"

    async def test_length_ends_incomplete(self, client: Any, scripted_provider: Any) -> None:
        scripted_provider.script(Reply(text="Cut short", finish_reason="length"))
        a, t = await self._setup(client)
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id,
                                                                  max_completion_tokens=2))
        assert run.status == "incomplete" and run.incomplete_details.reason == "max_completion_tokens"

    async def test_chat_completions_through_the_client(self, client: Any, scripted_provider: Any) -> None:
        scripted_provider.script(Reply(text="Plain chat."))
        completion = await call(client.chat.completions.create(
            model="test-model", messages=[{"role": "user", "content": "hi"}]))
        assert completion.choices[0].message.content == "Plain chat."
