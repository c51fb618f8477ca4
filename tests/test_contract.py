"""AssistantsContractTests over each client adapter: scripted, and OpenAI through the real openai
SDK (sync and async provider clients) against the loopback fake provider."""

from __future__ import annotations

import openai
import pytest

from supercompat.loop import run_async
from supercompat.testing import AssistantsContractTests, Reply, scripted_client_adapter
from supercompat.testing.contract import WEATHER, call
from supercompat.testing.loopback import SDKClients
from supercompat_openai.testing import (
    FakeOpenAIProvider,
    Garbled,
    Hang,
    MidStreamError,
    ScriptedFakeOpenAI,
    Text,
    Truncated,
)


class TestScripted(AssistantsContractTests):
    @pytest.fixture
    def scripted_provider(self):
        return scripted_client_adapter()


@pytest.fixture(scope="module")
def fake_openai():
    with FakeOpenAIProvider() as fake:
        yield fake


class TestOpenAI(AssistantsContractTests):
    @pytest.fixture(params=["sync-provider", "async-provider"])
    async def scripted_provider(self, request, fake_openai):
        from supercompat_openai import openai_client_adapter

        fake_openai.reset()
        clients = SDKClients(fake_openai, request.param == "async-provider", close_with=run_async)
        yield ScriptedFakeOpenAI(fake_openai, openai_client_adapter(openai=clients.make()))
        await clients.aclose()

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


@pytest.mark.parametrize("response",
                         [Garbled(), Truncated(), Truncated(clean=False), MidStreamError(message="overloaded")],
                         ids=["garbled", "truncated", "dropped-connection", "error-frame"])
def test_broken_provider_streams_fail_the_run(fake_openai, response):
    from supercompat import supercompat
    from supercompat_openai import openai_client_adapter

    fake_openai.reset()
    with openai.OpenAI(base_url=fake_openai.base_url, api_key="t", max_retries=0) as sdk:
        client = supercompat(client_adapter=openai_client_adapter(openai=sdk))
        a = client.beta.assistants.create(model="m")
        t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        fake_openai.script(response)
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
        assert run.status == "failed" and run.last_error.code == "server_error" and run.last_error.message
        fake_openai.script(Text("fine again"))
        assert client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id).status == "completed"


def test_provider_timeout_fails_the_run(fake_openai):
    from supercompat import supercompat
    from supercompat_openai import openai_client_adapter

    fake_openai.reset()
    with openai.OpenAI(base_url=fake_openai.base_url, api_key="t", max_retries=0, timeout=0.3) as sdk:
        client = supercompat(client_adapter=openai_client_adapter(openai=sdk))
        a = client.beta.assistants.create(model="m")
        t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        fake_openai.script(Hang(2.0))
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
        assert run.status == "failed" and run.last_error.code == "server_error"
        assert "did not answer in time" in run.last_error.message
