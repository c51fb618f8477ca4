"""AssistantsContractTests with Mistral behind them: the real mistralai SDK (its sync methods in
worker threads, or its async ones) against the loopback fake Mistral provider, plus what reached
Mistral, proving the translation of tool-call ids, tool ordering and tool_choice."""

from __future__ import annotations

import re

import httpx2
import pytest
from mistralai.client import Mistral

from supercompat.loop import run_async
from supercompat.testing import AssistantsContractTests, Reply
from supercompat.testing.contract import TIME, WEATHER, call
from supercompat.testing.loopback import SDKClients
from supercompat_mistral import mistral_client_adapter
from supercompat_mistral.testing import FakeMistralProvider, Garbled, ScriptedFakeMistral, Truncated

MISTRAL_ID = re.compile(r"[a-zA-Z0-9]{9}")


@pytest.fixture(scope="module")
def fake_mistral():
    with FakeMistralProvider() as fake:
        yield fake


class TestMistral(AssistantsContractTests):
    @pytest.fixture(params=["sync-provider", "async-provider"])
    async def scripted_provider(self, request, fake_mistral):
        fake_mistral.reset()
        clients = SDKClients(fake_mistral, request.param == "async-provider", close_with=run_async)
        yield ScriptedFakeMistral(fake_mistral, mistral_client_adapter(mistral=clients.make()))
        await clients.aclose()

    async def _tool_round(self, client, scripted_provider, **run_options):
        """A parallel tool round: the run, its calls as the user saw them, and the finished run."""
        scripted_provider.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"}), ("get_time", {})]),
                                 Reply(text="Cold, and late."))
        a = await call(client.beta.assistants.create(model="mistral-small-latest", instructions="Be brief.",
                                                     tools=[WEATHER, TIME]))
        t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "Weather in Oslo?"}]))
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, **run_options))
        calls = run.required_action.submit_tool_outputs.tool_calls
        done = await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=t.id,
            tool_outputs=[{"tool_call_id": c.id, "output": f"out-{c.function.name}"} for c in reversed(calls)]))
        return t, calls, done

    async def test_tool_call_ids_map_to_and_from_mistral(self, client, scripted_provider):
        t, calls, done = await self._tool_round(client, scripted_provider)
        assert done.status == "completed", done.last_error
        assert all(c.id.startswith("call_") and MISTRAL_ID.fullmatch(c.id[5:]) for c in calls)
        second = scripted_provider.fake.chat_requests[-1]
        sent_calls = second["messages"][2]["tool_calls"]
        # Mistral gets its own ids back: the user's ids without the call_ prefix, in both places.
        assert [c["id"] for c in sent_calls] == [c.id[5:] for c in calls]
        results = {m["tool_call_id"]: m for m in second["messages"][3:]}
        assert set(results) == {c.id[5:] for c in calls}
        assert {m["name"] for m in results.values()} == {"get_weather", "get_time"}
        # A later run replays the same round with the same ids.
        scripted_provider.script(Reply(text="Still cold."))
        await call(client.beta.threads.messages.create(t.id, role="user", content="And now?"))
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=done.assistant_id))
        assert run.status == "completed", run.last_error
        third = scripted_provider.fake.chat_requests[-1]
        assert third["messages"][2]["tool_calls"] == sent_calls

    async def test_tool_messages_follow_their_call_and_bridge_to_the_next_user_turn(self, client, scripted_provider):
        scripted_provider.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"})]))
        a = await call(client.beta.assistants.create(model="mistral-small-latest", tools=[WEATHER]))
        t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "Weather in Oslo?"}]))
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        cid = run.required_action.submit_tool_outputs.tool_calls[0].id
        scripted_provider.fail(500, "overloaded")  # the answer to the tool result never comes
        run = await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": cid, "output": "-3C"}]))
        assert run.status == "failed"
        await call(client.beta.threads.messages.create(t.id, role="user", content="Well?"))
        scripted_provider.script(Reply(text="Minus three."))
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "completed", run.last_error
        messages = scripted_provider.fake.chat_requests[-1]["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "user"]
        assert messages[2] == {"role": "tool", "tool_call_id": cid[5:], "name": "get_weather", "content": "-3C"}

    @pytest.mark.parametrize("tool_choice, sent", [
        ("auto", "auto"), ("none", "none"), ("required", "any"),
        ({"type": "function", "function": {"name": "get_time"}},
         {"type": "function", "function": {"name": "get_time"}}),
    ], ids=["auto", "none", "required", "named"])
    async def test_tool_choice_and_parallel_tool_calls_reach_mistral(self, client, scripted_provider, tool_choice,
                                                                      sent):
        scripted_provider.script(Reply(text="Ok."))
        a = await call(client.beta.assistants.create(model="mistral-small-latest", tools=[WEATHER, TIME]))
        t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}]))
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id,
                                                                  tool_choice=tool_choice, parallel_tool_calls=False))
        assert run.status == "completed", run.last_error
        body = scripted_provider.fake.chat_requests[-1]
        assert body["tool_choice"] == sent and body["parallel_tool_calls"] is False

    async def test_run_parameters_reach_mistral_under_its_names(self, client, scripted_provider):
        scripted_provider.script(Reply(text='{"ok": true}'))
        schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
        a = await call(client.beta.assistants.create(model="gpt-4.1-mini", instructions="Answer in JSON."))
        t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "Ok?"}]))
        run = await call(client.beta.threads.runs.create_and_poll(
            thread_id=t.id, assistant_id=a.id, temperature=0.2, top_p=0.9, max_completion_tokens=50,
            response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}))
        assert run.status == "completed", run.last_error
        body = scripted_provider.fake.chat_requests[-1]
        assert body["messages"] == [{"role": "system", "content": "Answer in JSON."},
                                    {"role": "user", "content": "Ok?"}]
        assert (body["temperature"], body["top_p"], body["max_tokens"], body["stream"]) == (0.2, 0.9, 50, True)
        assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
        assert "stream_options" not in body and "max_completion_tokens" not in body


@pytest.mark.parametrize("answer", [Garbled(), Truncated()], ids=["garbled", "truncated"])
def test_broken_mistral_streams_fail_the_run(fake_mistral, answer):
    from supercompat import supercompat

    fake_mistral.reset()
    with httpx2.Client() as http:
        sdk = Mistral(api_key="t", server_url=fake_mistral.server_url, client=http)
        client = supercompat(client_adapter=mistral_client_adapter(mistral=sdk))
        a = client.beta.assistants.create(model="m")
        t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        fake_mistral.script(answer)
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
        assert run.status == "failed" and run.last_error.code == "server_error" and run.last_error.message
        fake_mistral.script(Reply(text="fine again"))
        assert client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id).status == "completed"
