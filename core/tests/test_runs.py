"""Runs through the real openai SDK: polling helpers, tool rounds, cancel, failures, limits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

from supercompat import async_supercompat, supercompat
from supercompat.errors import APIError
from supercompat.storage import ListQuery
from supercompat.testing import Reply, app_of, scripted_client_adapter

from conftest import call

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(params=["sync", "async"])
def kind(request):
    return request.param


def make(kind: str, adapter: Any, **options: Any) -> Any:
    return (supercompat if kind == "sync" else async_supercompat)(client_adapter=adapter, max_retries=0, **options)


async def setup(client, **assistant):
    a = await call(client.beta.assistants.create(model="gpt-4.1-mini", **assistant))
    t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "What's the weather in Paris?"}]))
    return a, t


class Counting:
    """Memory storage that counts the calls made to it, by method."""

    def __init__(self) -> None:
        from supercompat.storage import memory_storage_adapter

        self.inner, self.calls, self.names = memory_storage_adapter(), 0, []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.names.append(name)
            return await method(*args, **kwargs)
        return counted if callable(method) else method


async def tool_round(client, a, t) -> str:
    """A run whose model calls get_weather once, answered "-5"; the call's id."""
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    cid = run.required_action.submit_tool_outputs.tool_calls[0].id
    await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": cid, "output": "-5"}]))
    return cid


async def test_create_and_poll_completes_with_usage(kind):
    scripted = scripted_client_adapter(["Sunny and mild."])
    client = make(kind, scripted)
    a, t = await setup(client, instructions="Answer briefly.", temperature=0.2, top_p=0.5)
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    assert run.status == "completed" and run.completed_at and run.started_at
    assert run.instructions == "Answer briefly." and run.temperature == 0.2
    assert run.usage.total_tokens == run.usage.prompt_tokens + run.usage.completion_tokens > 0
    messages = (await call(client.beta.threads.messages.list(t.id))).data
    assert [m.role for m in messages] == ["assistant", "user"]
    answer = messages[0]
    assert answer.content[0].text.value == "Sunny and mild."
    assert (answer.run_id, answer.assistant_id, answer.status) == (run.id, a.id, "completed")
    sent = scripted.requests[-1]
    assert sent["messages"] == [{"role": "system", "content": "Answer briefly."},
                                {"role": "user", "content": "What's the weather in Paris?"}]
    assert (sent["temperature"], sent["top_p"], sent["model"]) == (0.2, 0.5, "gpt-4.1-mini")
    steps = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=t.id))).data
    assert [s.type for s in steps] == ["message_creation"]
    assert steps[0].step_details.message_creation.message_id == answer.id
    assert steps[0].usage.model_dump() == run.usage.model_dump()
    assert await call(client.beta.threads.runs.steps.retrieve(steps[0].id, thread_id=t.id, run_id=run.id)) == steps[0]


async def test_queued_run_proceeds_in_background(kind):
    client = make(kind, scripted_client_adapter())
    a, t = await setup(client)
    run = await call(client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id))
    assert run.status == "queued" and run.object == "thread.run"
    done = await call(client.beta.threads.runs.poll(run.id, thread_id=t.id))
    assert done.status == "completed"
    runs = (await call(client.beta.threads.runs.list(t.id))).data
    assert [r.id for r in runs] == [run.id]


async def test_run_overrides_and_additional_params(kind):
    scripted = scripted_client_adapter()
    client = make(kind, scripted)
    a, t = await setup(client, instructions="assistant instructions", tools=[WEATHER])
    run = await call(client.beta.threads.runs.create_and_poll(
        thread_id=t.id, assistant_id=a.id, model="other-model", instructions="run instructions",
        additional_instructions="Also be kind.", additional_messages=[{"role": "user", "content": "extra"}],
        tools=[TIME], tool_choice="none", parallel_tool_calls=False, temperature=1.5,
        response_format={"type": "json_object"}, metadata={"trace": "1"},
        truncation_strategy={"type": "last_messages", "last_messages": 1}))
    assert run.status == "completed" and run.metadata == {"trace": "1"}
    assert run.instructions == "run instructions\n\nAlso be kind." and run.model == "other-model"
    assert run.truncation_strategy.type == "last_messages" and run.parallel_tool_calls is False
    sent = scripted.requests[-1]
    assert sent["model"] == "other-model" and sent["tool_choice"] == "none"
    assert sent["tools"] == [TIME] and sent["parallel_tool_calls"] is False
    assert sent["response_format"] == {"type": "json_object"} and sent["temperature"] == 1.5
    # last_messages=1 keeps only the additional message
    assert sent["messages"] == [{"role": "system", "content": "run instructions\n\nAlso be kind."},
                                {"role": "user", "content": "extra"}]
    run2 = await call(client.beta.threads.runs.create_and_poll(
        thread_id=t.id, assistant_id=a.id, tool_choice={"type": "function", "function": {"name": "get_weather"}}))
    assert scripted.requests[-1]["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert run2.tool_choice.function.name == "get_weather"


async def test_tool_round_trip_with_parallel_calls(kind):
    scripted = scripted_client_adapter([Reply(text="Let me check.", tool_calls=[
        ("get_weather", {"city": "Paris"}), ("get_time", {})])])
    client = make(kind, scripted)
    a, t = await setup(client, tools=[WEATHER, TIME])
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    assert run.status == "requires_action" and run.expires_at
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"} and calls[1].function.arguments == "{}"
    assert calls[0].id != calls[1].id and all(c.id.startswith("call_") for c in calls)
    with pytest.raises(openai.BadRequestError):  # every call needs an output
        await call(client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": calls[0].id, "output": "x"}]))
    outputs = [{"tool_call_id": calls[0].id, "output": '{"temp": "18°C", "sky": "clear"}'},
               {"tool_call_id": calls[1].id, "output": "12:00"}]
    run = await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=t.id, tool_outputs=outputs))
    assert run.status == "completed" and run.required_action is None
    sent = scripted.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert sent[1]["content"] == "Let me check." and [c["id"] for c in sent[1]["tool_calls"]] == [c.id for c in calls]
    assert [(m["tool_call_id"], m["content"]) for m in sent[2:]] == [(o["tool_call_id"], o["output"]) for o in outputs]
    steps = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=t.id, order="asc"))).data
    assert [s.type for s in steps] == ["message_creation", "tool_calls", "message_creation"]
    assert [c.function.output for c in steps[1].step_details.tool_calls] == [o["output"] for o in outputs]
    assert all(s.status == "completed" for s in steps)
    messages = (await call(client.beta.threads.messages.list(t.id, order="asc", run_id=run.id))).data
    assert [m.content[0].text.value for m in messages] == [
        "Let me check.", 'The tools answered: {"temp": "18°C", "sky": "clear"}; 12:00']


async def test_tool_only_turn_leaves_no_empty_message_and_no_metadata(kind):
    client = make(kind, scripted_client_adapter([Reply(tool_calls=[("get_weather", {"city": "Rome"})])]))
    a, t = await setup(client, tools=[WEATHER])
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    assert (await call(client.beta.threads.messages.list(t.id, run_id=run.id))).data == []
    cid = run.required_action.submit_tool_outputs.tool_calls[0].id
    run = await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": cid, "output": "rain"}]))
    messages = (await call(client.beta.threads.messages.list(t.id, run_id=run.id))).data
    assert len(messages) == 1 and messages[0].metadata == {} and run.metadata == {}


async def test_several_tool_rounds_in_one_run(kind):
    rounds = [Reply(tool_calls=[("get_weather", {"city": c})]) for c in ("Paris", "Rome", "Oslo")]
    scripted = scripted_client_adapter([*rounds, "All three checked."])
    client = make(kind, scripted)
    a, t = await setup(client, tools=[WEATHER])
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    for i in range(3):
        assert run.status == "requires_action"
        cid = run.required_action.submit_tool_outputs.tool_calls[0].id
        run = await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": cid, "output": f"r{i}"}]))
    assert run.status == "completed"
    assert [m["content"] for m in scripted.requests[-1]["messages"] if m["role"] == "tool"] == ["r0", "r1", "r2"]


async def test_later_runs_see_earlier_runs_tool_rounds_and_truncation_keeps_whole_rounds(kind):
    scripted = scripted_client_adapter([Reply(tool_calls=[("get_weather", {"city": "Oslo"})]), "Cold.",
                                        "Still cold.", "Yes."])
    client = make(kind, scripted)
    a, t = await setup(client, tools=[WEATHER])
    cid = await tool_round(client, a, t)
    await call(client.beta.threads.messages.create(t.id, role="user", content="And now?"))
    await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    shape = lambda request: [(m["role"], m.get("content"), m.get("tool_call_id")) for m in request["messages"]]  # noqa: E731
    first_user = shape(scripted.requests[-1])[0]
    assert shape(scripted.requests[-1]) == [first_user, ("assistant", None, None), ("tool", "-5", cid),
                                            ("assistant", "Cold.", None), ("user", "And now?", None)]
    # The window's oldest message is the first run's answer: that run's tool round, which came
    # before it, is kept whole with it.
    await call(client.beta.threads.messages.create(t.id, role="user", content="Sure?"))
    await call(client.beta.threads.runs.create_and_poll(
        thread_id=t.id, assistant_id=a.id, truncation_strategy={"type": "last_messages", "last_messages": 4}))
    assert shape(scripted.requests[-1]) == [("assistant", None, None), ("tool", "-5", cid),
                                            ("assistant", "Cold.", None), ("user", "And now?", None),
                                            ("assistant", "Still cold.", None), ("user", "Sure?", None)]


async def test_create_and_run_poll(kind):
    client = make(kind, scripted_client_adapter(["Hi!"]))
    a = await call(client.beta.assistants.create(model="m"))
    run = await call(client.beta.threads.create_and_run_poll(
        assistant_id=a.id, thread={"messages": [{"role": "user", "content": "hello"}], "metadata": {"x": "y"}}))
    assert run.status == "completed"
    thread = await call(client.beta.threads.retrieve(run.thread_id))
    assert thread.metadata == {"x": "y"}
    assert (await call(client.beta.threads.messages.list(run.thread_id))).data[0].content[0].text.value == "Hi!"


async def test_active_run_blocks_runs_and_messages(kind):
    client = make(kind, scripted_client_adapter([Reply(tool_calls=[("get_weather", {})])]))
    a, t = await setup(client, tools=[WEATHER])
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    assert run.status == "requires_action"
    with pytest.raises(openai.BadRequestError) as info:
        await call(client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id))
    assert info.value.body["message"] == f"Thread {t.id} already has an active run {run.id}."
    with pytest.raises(openai.BadRequestError) as info:
        await call(client.beta.threads.messages.create(t.id, role="user", content="more"))
    assert info.value.body["message"] == f"Can't add messages to {t.id} while a run {run.id} is active."


async def test_cancel_a_run_waiting_for_tools(kind):
    client = make(kind, scripted_client_adapter([Reply(tool_calls=[("get_weather", {})])]))
    a, t = await setup(client, tools=[WEATHER])
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    cancelled = await call(client.beta.threads.runs.cancel(run.id, thread_id=t.id))
    assert cancelled.status == "cancelled" and cancelled.cancelled_at
    steps = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=t.id))).data
    assert [s.status for s in steps] == ["cancelled"]
    with pytest.raises(openai.BadRequestError):
        await call(client.beta.threads.runs.cancel(run.id, thread_id=t.id))
    await call(client.beta.threads.messages.create(t.id, role="user", content="thread is usable again"))


class SlowAdapter:
    """Streams one word, then waits until cancelled; records whether the stream was closed."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def chat_completions_stream(self, params):
        try:
            yield {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                   "choices": [{"index": 0, "delta": {"content": "Partial"}, "finish_reason": None}]}
            await asyncio.sleep(3600)
        finally:
            self.closed.set()


async def test_cancel_aborts_the_provider_call(kind):
    slow = SlowAdapter()
    client = make(kind, slow)
    a, t = await setup(client)
    run = await call(client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id))
    engine = app_of(client).engine
    for _ in range(200):
        msgs = (await call(client.beta.threads.messages.list(t.id, run_id=run.id))).data
        if msgs:
            break
        await asyncio.sleep(0.005)
    cancelling = await call(client.beta.threads.runs.cancel(run.id, thread_id=t.id))
    assert cancelling.status == "cancelling"
    final = await call(client.beta.threads.runs.poll(run.id, thread_id=t.id))
    assert final.status == "cancelled" and final.cancelled_at
    assert slow.closed.is_set() and not engine.is_executing(run.id)
    message = (await call(client.beta.threads.messages.list(t.id, run_id=run.id))).data[0]
    assert message.status == "incomplete" and message.incomplete_details.reason == "run_cancelled"
    assert message.content[0].text.value == "Partial"


class FailingAdapter:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def chat_completions_stream(self, params):
        raise self.error
        yield  # pragma: no cover


@pytest.mark.parametrize("error, code", [
    (APIError("Rate limit reached for requests", status=429, type="rate_limit_error"), "rate_limit_exceeded"),
    (APIError("The server had an error", status=500, type="server_error"), "server_error"),
    (APIError("Request timed out.", status=504, type="timeout"), "server_error"),
    (ValueError("garbled provider stream"), "server_error"),
])
async def test_provider_failure_fails_the_run_and_keeps_the_thread_usable(kind, error, code):
    client = make(kind, FailingAdapter(error))
    a, t = await setup(client)
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    assert run.status == "failed" and run.failed_at and run.last_error.code == code
    assert str(error) in run.last_error.message
    await call(client.beta.threads.messages.create(t.id, role="user", content="still usable"))


async def test_token_limit_ends_incomplete(kind):
    client = make(kind, scripted_client_adapter([Reply(text="A long answer cut", finish_reason="length")]))
    a, t = await setup(client)
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id,
                                                              max_completion_tokens=4))
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_completion_tokens"
    message = (await call(client.beta.threads.messages.list(t.id))).data[0]
    assert message.status == "incomplete" and message.incomplete_details.reason == "max_tokens"


async def test_prompt_token_limit_ends_incomplete(kind):
    client = make(kind, scripted_client_adapter(["fine"]))
    a, t = await setup(client)
    await call(client.beta.threads.messages.create(t.id, role="user", content="word " * 400))
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id,
                                                              max_prompt_tokens=5))
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_prompt_tokens"


async def test_requires_action_expires(kind):
    client = make(kind, scripted_client_adapter([Reply(tool_calls=[("get_weather", {})])]))
    app_of(client).engine.requires_action_ttl = 0
    a, t = await setup(client, tools=[WEATHER])
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    assert run.status in ("requires_action", "expired")
    await asyncio.sleep(1.1)
    run = await call(client.beta.threads.runs.retrieve(run.id, thread_id=t.id))
    assert run.status == "expired"
    with pytest.raises(openai.BadRequestError):
        await call(client.beta.threads.runs.submit_tool_outputs(run_id=run.id, thread_id=t.id, tool_outputs=[]))
    steps = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=t.id))).data
    assert steps[0].status == "expired"


async def test_run_update_and_unknown_ids(kind):
    client = make(kind, scripted_client_adapter())
    a, t = await setup(client)
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    updated = await call(client.beta.threads.runs.update(run.id, thread_id=t.id, metadata={"k": "v"}))
    assert updated.metadata == {"k": "v"} and updated.status == "completed"
    with pytest.raises(openai.NotFoundError):
        await call(client.beta.threads.runs.retrieve("run_nope", thread_id=t.id))
    with pytest.raises(openai.NotFoundError) as info:
        await call(client.beta.threads.runs.create(thread_id=t.id, assistant_id="asst_nope"))
    assert "No assistant found with id 'asst_nope'." in info.value.message
    with pytest.raises(openai.BadRequestError) as info:
        await call(client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id,
                                                   truncation_strategy={"type": "sometimes"}))
    assert info.value.param == "truncation_strategy.type"


async def test_chat_completions_through_the_client(kind):
    client = make(kind, scripted_client_adapter(["one two three"]))
    completion = await call(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]))
    assert completion.choices[0].message.content == "one two three"
    stream = await call(client.chat.completions.create(model="m", stream=True,
                                                       messages=[{"role": "user", "content": "hi"}]))
    if hasattr(stream, "__aiter__"):
        chunks = [c async for c in stream]
    else:
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "You said: hi"
    models = await call(client.models.list())
    assert [m.id for m in models.data] == ["scripted"]


async def test_a_chat_completion_stream_failing_midway_raises_the_providers_error(kind):
    class FailsMidway:
        async def chat_completions_stream(self, params):
            yield {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"},
                                "logprobs": None, "finish_reason": None}]}
            raise APIError("upstream overloaded", status=503, type="server_error", code="overloaded")

    client = make(kind, FailsMidway())
    stream = await call(client.chat.completions.create(model="m", stream=True,
                                                       messages=[{"role": "user", "content": "hi"}]))
    received = []
    with pytest.raises(openai.APIError) as info:  # an error frame, not a dropped connection
        if hasattr(stream, "__aiter__"):
            async for chunk in stream:
                received.append(chunk)
        else:
            for chunk in stream:
                received.append(chunk)
    assert not isinstance(info.value, openai.APIConnectionError)
    assert info.value.message == "upstream overloaded" and info.value.code == "overloaded"
    assert received[0].choices[0].delta.content == "Hel"


async def test_cancel_right_after_start_never_sticks_in_cancelling(kind):
    client = make(kind, scripted_client_adapter())
    a, t = await setup(client)
    for _ in range(20):
        run = await call(client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id))
        try:
            await call(client.beta.threads.runs.cancel(run.id, thread_id=t.id))
        except openai.BadRequestError:
            pass  # it had already completed
        final = await call(client.beta.threads.runs.poll(run.id, thread_id=t.id))
        assert final.status in ("cancelled", "completed")


async def test_deleting_a_thread_stops_its_run(kind):
    slow = SlowAdapter()
    client = make(kind, slow)
    a, t = await setup(client)
    await call(client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id))
    for _ in range(200):
        if (await call(client.beta.threads.runs.list(t.id))).data[0].status == "in_progress":
            break
        await asyncio.sleep(0.005)
    await call(client.beta.threads.delete(t.id))
    await asyncio.wait_for(slow.closed.wait(), 5)


async def test_prompt_budget_keeps_the_last_message(kind):
    scripted = scripted_client_adapter(["ok"])
    client = make(kind, scripted)
    a, t = await setup(client)
    await call(client.beta.threads.messages.create(t.id, role="user", content="latest " * 300))
    await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, max_prompt_tokens=20))
    assert scripted.requests[-1]["messages"][-1]["content"].startswith("latest")


async def test_text_after_tool_calls_is_a_message_of_its_own(kind):
    class Interleaving:
        async def chat_completions_stream(self, params):
            base = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
            for delta, finish in (({"content": "Checking."}, None),
                                  ({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                    "function": {"name": "get_weather", "arguments": "{}"}}]}, None),
                                  ({"content": " Done."}, None), ({}, "tool_calls")):
                yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    client = make(kind, Interleaving())
    a, t = await setup(client, tools=[WEATHER])
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    assert run.status == "requires_action"
    messages = (await call(client.beta.threads.messages.list(t.id, run_id=run.id, order="asc"))).data
    assert [(m.status, m.content[0].text.value) for m in messages] == [("completed", "Checking."),
                                                                       ("completed", " Done.")]


class ToolsThenHang(SlowAdapter):
    """Asks for a tool when the run has tools; otherwise streams a word and hangs like SlowAdapter."""

    def chat_completions_stream(self, params):
        if params.get("tools"):
            return scripted_client_adapter([Reply(tool_calls=[("get_weather", {"city": "Oslo"})])]) \
                .chat_completions_stream(params)
        return super().chat_completions_stream(params)


async def test_app_aclose_fails_executing_runs_and_keeps_runs_waiting_for_tools(kind):
    from supercompat.loop import run_async

    adapter = ToolsThenHang()
    client = make(kind, adapter)
    app = app_of(client)
    waiting_a, waiting_t = await setup(client, tools=[WEATHER])
    waiting = await call(client.beta.threads.runs.create_and_poll(thread_id=waiting_t.id, assistant_id=waiting_a.id))
    assert waiting.status == "requires_action"
    hung_a, hung_t = await setup(client)
    hung = await call(client.beta.threads.runs.create(thread_id=hung_t.id, assistant_id=hung_a.id))
    for _ in range(200):
        if (await call(client.beta.threads.messages.list(hung_t.id, run_id=hung.id))).data:
            break
        await asyncio.sleep(0.005)

    await run_async(app.aclose(grace=0))

    stored = await run_async(app.storage.get_run(hung.thread_id, hung.id))
    assert stored["status"] == "failed" and stored["failed_at"]
    assert stored["last_error"] == {"code": "server_error",
                                    "message": "The server shut down before the run finished."}
    steps = (await run_async(app.storage.list_steps(hung.thread_id, hung.id, ListQuery()))).data
    assert steps and all(s["status"] == "failed" for s in steps)
    # Nothing of the waiting run is in flight: with shared storage, its tool outputs may come later.
    stored = await run_async(app.storage.get_run(waiting.thread_id, waiting.id))
    assert stored["status"] == "requires_action" and stored["required_action"]
    message = (await run_async(app.storage.list_messages(hung_t.id, ListQuery(), run_id=hung.id))).data[0]
    assert message["status"] == "incomplete" and adapter.closed.is_set()
    with pytest.raises(openai.InternalServerError, match="shutting down"):
        await call(client.beta.assistants.list())


async def test_storage_calls_per_run_do_not_grow_with_the_threads_earlier_runs(kind):
    storage = Counting()
    client = make(kind, scripted_client_adapter([Reply(tool_calls=[("get_weather", {"city": "Oslo"})])] + ["ok"] * 20),
                  storage_adapter=storage)
    a, t = await setup(client, tools=[WEATHER])
    await tool_round(client, a, t)
    per_run = []
    for i in range(6):
        await call(client.beta.threads.messages.create(t.id, role="user", content=f"turn {i}"))
        before = storage.calls
        # The poll's own reads depend on timing; the run's are counted once it has ended.
        run = await call(client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id))
        while app_of(client).engine.is_executing(run.id):
            await asyncio.sleep(0.001)
        per_run.append(storage.calls - before)
    assert per_run[-1] == per_run[1], per_run



async def test_reading_an_item_reads_only_the_item(kind):
    storage = Counting()
    client = make(kind, scripted_client_adapter(["Hi."]), storage_adapter=storage)
    a, t = await setup(client)
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    message = (await call(client.beta.threads.messages.list(t.id))).data[0]
    step = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=t.id))).data[0]
    for read, name in ((lambda: client.beta.threads.runs.retrieve(run.id, thread_id=t.id), "get_run"),
                       (lambda: client.beta.threads.messages.retrieve(message.id, thread_id=t.id), "get_message"),
                       (lambda: client.beta.threads.runs.steps.retrieve(step.id, thread_id=t.id, run_id=run.id),
                        "get_step")):
        storage.names.clear()
        await call(read())
        assert storage.names == [name]  # an item proves its thread exists: no thread read
    with pytest.raises(openai.NotFoundError, match="No thread found"):
        await call(client.beta.threads.runs.retrieve(run.id, thread_id="thread_missing"))
    with pytest.raises(openai.NotFoundError, match="No run found"):
        await call(client.beta.threads.runs.steps.retrieve(step.id, thread_id=t.id, run_id="run_missing"))


class DeletedBeforeRequeue:
    """Memory storage where the thread is deleted just as submit_tool_outputs requeues its run."""

    def __init__(self) -> None:
        from supercompat.storage import memory_storage_adapter

        self.inner = memory_storage_adapter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def update_run(self, thread_id: str, run_id: str, changes: dict[str, Any], **options: Any) -> Any:
        if changes.get("status") == "queued":
            await self.inner.delete_thread(thread_id)
        return await self.inner.update_run(thread_id, run_id, changes, **options)


async def test_tool_outputs_for_a_run_deleted_meanwhile_are_a_404_not_a_500(kind):
    client = make(kind, scripted_client_adapter([Reply(tool_calls=[("get_weather", {"city": "Oslo"})])]),
                  storage_adapter=DeletedBeforeRequeue())
    a, t = await setup(client, tools=[WEATHER])
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    cid = run.required_action.submit_tool_outputs.tool_calls[0].id
    with pytest.raises(openai.NotFoundError):
        await call(client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": cid, "output": "-5"}]))
