"""AssistantsContractTests over each client adapter: scripted, and OpenAI through the real openai
SDK (sync and async provider clients) against the loopback fake provider."""

from __future__ import annotations

import openai
import pytest

from supercompat.testing import AssistantsContractTests, Reply, scripted_client_adapter
from supercompat.testing.contract import WEATHER, call
from supercompat.testing.fake_openai import Error, FakeOpenAIProvider, Length, Text, ToolCalls


class TestScripted(AssistantsContractTests):
    @pytest.fixture
    def scripted_provider(self):
        adapter = scripted_client_adapter()
        adapter.adapter = adapter
        return adapter


class FakeOpenAI:
    """Plays the kit's Replies through the fake OpenAI provider, in OpenAI's wire format."""

    def __init__(self, fake: FakeOpenAIProvider, adapter):
        self.fake, self.adapter = fake, adapter

    def script(self, *replies):
        for reply in replies:
            if reply.tool_calls:
                self.fake.script(ToolCalls(list(reply.tool_calls)))
            elif reply.finish_reason == "length":
                self.fake.script(Length(reply.text))
            else:
                self.fake.script(Text(reply.text))

    def fail(self, status, message):
        self.fake.script(Error(status, message))


@pytest.fixture(scope="module")
def fake_openai():
    with FakeOpenAIProvider() as fake:
        yield fake


class TestOpenAI(AssistantsContractTests):
    @pytest.fixture(params=["sync-provider", "async-provider"])
    async def scripted_provider(self, request, fake_openai):
        from supercompat_openai import openai_client_adapter

        fake_openai.reset()
        options = {"base_url": fake_openai.base_url, "api_key": "test", "max_retries": 0}
        sdk = openai.OpenAI(**options) if request.param == "sync-provider" else openai.AsyncOpenAI(**options)
        yield FakeOpenAI(fake_openai, openai_client_adapter(openai=sdk))
        if isinstance(sdk, openai.AsyncOpenAI):
            from supercompat._loop import run_async

            await run_async(sdk.close())  # its connections live on supercompat's loop
        else:
            sdk.close()

    async def test_what_reached_the_provider(self, client, scripted_provider):
        """System prompt, temperature, tools and tool results in order, as OpenAI received them."""
        fake = scripted_provider.fake
        scripted_provider.script(Reply(tool_calls=[("get_weather", {"city": "Oslo"})]))

        a = await call(client.beta.assistants.create(model="gpt-4.1-mini", instructions="Be brief.",
                                                     tools=[WEATHER], temperature=0.3))
        t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "Weather in Oslo?"}]))
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        cid = run.required_action.submit_tool_outputs.tool_calls[0].id
        await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": cid, "output": "-3C"}]))
        first, second = fake.chat_requests[-2:]
        assert first["messages"][:2] == [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "Weather in Oslo?"}]
        assert first["temperature"] == 0.3 and first["tools"] == [WEATHER] and first["stream"] is True
        assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
        assert second["messages"][2]["tool_calls"][0]["id"] == cid
        assert second["messages"][3] == {"role": "tool", "tool_call_id": cid, "content": "-3C"}
