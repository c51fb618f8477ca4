"""AssistantsContractTests with Claude behind it: the anthropic adapter through the real anthropic SDK
(sync and async provider clients) against the loopback fake Anthropic provider, plus recorded
provider requests that show how runs are translated to the Messages API."""

from __future__ import annotations

import anthropic
import pytest

from supercompat import supercompat
from supercompat.loop import run_async
from supercompat.testing import AssistantsContractTests, Reply
from supercompat.testing.contract import TIME, WEATHER, call
from supercompat.testing.loopback import SDKClients
from supercompat_anthropic import anthropic_client_adapter
from supercompat_anthropic.testing import (
    FakeAnthropicProvider,
    ScriptedFakeAnthropic,
    StreamError,
    Text,
    Truncated,
)


@pytest.fixture(scope="module")
def fake_anthropic():
    with FakeAnthropicProvider() as fake:
        yield fake


class TestAnthropic(AssistantsContractTests):
    @pytest.fixture(params=["sync-provider", "async-provider"])
    async def scripted_provider(self, request, fake_anthropic):
        fake_anthropic.reset()
        clients = SDKClients(fake_anthropic, request.param == "async-provider", close_with=run_async)
        yield ScriptedFakeAnthropic(fake_anthropic, anthropic_client_adapter(anthropic=clients.make()))
        await clients.aclose()

    async def test_what_reached_claude(self, client, scripted_provider):
        """System prompt placement, merged user turns, tool_use/tool_result pairs with the run's call
        ids, the max_tokens default and sampling, as the Messages API received them."""
        fake = scripted_provider.fake
        scripted_provider.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"}), ("get_time", {})]),
                                 Reply(text="Cold, and it is noon."), Reply(text="You're welcome."))
        a = await call(client.beta.assistants.create(model="claude-sonnet-4-6", instructions="Be brief.",
                                                     tools=[WEATHER, TIME], temperature=0.3))
        t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "Hi."},
                                                            {"role": "user", "content": "Weather in Oslo?"}]))
        run = await call(client.beta.threads.runs.create_and_poll(
            thread_id=t.id, assistant_id=a.id, additional_instructions="Answer in English."))
        calls = run.required_action.submit_tool_outputs.tool_calls
        await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=t.id,
            tool_outputs=[{"tool_call_id": calls[0].id, "output": "-3C"},
                          {"tool_call_id": calls[1].id, "output": "12:00"}]))
        await call(client.beta.threads.messages.create(t.id, role="user", content="Thanks!"))
        await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))

        first, second, third = fake.message_requests[-3:]
        assert first["system"] == "Be brief.\n\nAnswer in English."
        assert first["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi."},
                                                                   {"type": "text", "text": "Weather in Oslo?"}]}]
        assert first["max_tokens"] == 16384 and first["stream"] is True
        assert first["temperature"] == 0.3 and "top_p" not in first  # Claude takes one of the two
        assert first["tools"] == [
            {"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]},
            {"name": "get_time", "input_schema": TIME["function"]["parameters"]}]
        assert first["tool_choice"] == {"type": "auto"}  # parallel calls allowed: no disable_parallel_tool_use

        assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
        # Users see OpenAI-style ids; Claude gets its own toolu_ ids back, paired with their results.
        claude_ids = [c.id.removeprefix("call_") for c in calls]
        assert all(c.id.startswith("call_toolu_") for c in calls)
        assert second["messages"][1]["content"] == [
            {"type": "tool_use", "id": claude_ids[0], "name": "get_weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": claude_ids[1], "name": "get_time", "input": {}}]
        assert second["messages"][2]["content"] == [
            {"type": "tool_result", "tool_use_id": claude_ids[0], "content": "-3C"},
            {"type": "tool_result", "tool_use_id": claude_ids[1], "content": "12:00"}]

        assert [m["role"] for m in third["messages"]] == ["user", "assistant", "user", "assistant", "user"]
        assert third["messages"][3:] == [
            {"role": "assistant", "content": [{"type": "text", "text": "Cold, and it is noon."}]},
            {"role": "user", "content": [{"type": "text", "text": "Thanks!"}]}]
        assert third["system"] == "Be brief." and "system" not in {m["role"] for m in third["messages"]}

    @pytest.mark.parametrize("tool_choice, parallel, expected", [
        ("required", True, {"type": "any"}),
        ("none", True, {"type": "none"}),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        ({"type": "function", "function": {"name": "get_weather"}}, False,
         {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}),
    ], ids=["required", "none", "auto-serial", "named-serial"])
    async def test_tool_choice_and_limits_reach_claude(self, client, scripted_provider, tool_choice, parallel,
                                                       expected):
        scripted_provider.script(Reply(text="ok"))
        a, t = await self._setup(client, tools=[WEATHER, TIME])
        run = await call(client.beta.threads.runs.create_and_poll(
            thread_id=t.id, assistant_id=a.id, tool_choice=tool_choice, parallel_tool_calls=parallel,
            max_completion_tokens=300, temperature=1.0, top_p=0.5))
        assert run.status == "completed", run.last_error
        sent = scripted_provider.fake.message_requests[-1]
        assert sent["tool_choice"] == expected
        assert sent["max_tokens"] == 300
        assert sent["top_p"] == 0.5 and "temperature" not in sent  # the one the caller tuned

    async def test_json_schema_becomes_structured_output(self, client, scripted_provider):
        scripted_provider.script(Reply(text='{"city": "Oslo"}'))
        schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        a, t = await self._setup(client)
        run = await call(client.beta.threads.runs.create_and_poll(
            thread_id=t.id, assistant_id=a.id,
            response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": schema}}))
        assert run.status == "completed", run.last_error
        fmt = scripted_provider.fake.message_requests[-1]["output_config"]["format"]
        assert fmt["type"] == "json_schema" and fmt["schema"]["properties"]["city"]["type"] == "string"
        assert fmt["schema"]["additionalProperties"] is False  # what Claude's structured outputs require


@pytest.mark.parametrize("response", [StreamError("Overloaded"), Truncated()], ids=["error-event", "truncated"])
def test_broken_claude_streams_fail_the_run(fake_anthropic, response):
    fake_anthropic.reset()
    with anthropic.Anthropic(base_url=fake_anthropic.base_url, api_key="t", max_retries=0) as sdk:
        client = supercompat(client_adapter=anthropic_client_adapter(anthropic=sdk))
        a = client.beta.assistants.create(model="claude-sonnet-4-6")
        t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        fake_anthropic.script(response)
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
        assert run.status == "failed" and run.last_error.code == "server_error" and run.last_error.message
        fake_anthropic.script(Text("fine again"))
        assert client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id).status == "completed"


def test_image_messages_reach_claude_as_image_blocks(fake_anthropic):
    fake_anthropic.reset()
    with anthropic.Anthropic(base_url=fake_anthropic.base_url, api_key="t", max_retries=0) as sdk:
        client = supercompat(client_adapter=anthropic_client_adapter(anthropic=sdk))
        a = client.beta.assistants.create(model="claude-sonnet-4-6")
        t = client.beta.threads.create(messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
        assert client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id).status == "completed"
    assert fake_anthropic.message_requests[-1]["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}]}]
