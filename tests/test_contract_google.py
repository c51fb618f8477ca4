"""AssistantsContractTests with Google Gemini behind it, through the real google-genai SDK (a sync
``genai.Client`` and its ``.aio`` async client) against the loopback fake Gemini; and what reached
Gemini, from the recorded requests."""

from __future__ import annotations

import pytest

from supercompat.loop import run_async
from supercompat.testing import AssistantsContractTests, Reply
from supercompat.testing.contract import WEATHER, call
from supercompat.testing.loopback import SDKClients

pytest.importorskip("google.genai")
from supercompat_google import google_client_adapter  # noqa: E402
from supercompat_google.testing import FakeGeminiProvider, ScriptedFakeGemini  # noqa: E402


@pytest.fixture(scope="module")
def fake_gemini():
    with FakeGeminiProvider(models=("test-model", "gemini-2.5-flash")) as fake:
        yield fake


class TestGoogle(AssistantsContractTests):
    @pytest.fixture(params=["sync-provider", "async-provider"])
    async def scripted_provider(self, request, fake_gemini):
        fake_gemini.reset()
        clients = SDKClients(fake_gemini, request.param == "async-provider", close_with=run_async)
        yield ScriptedFakeGemini(fake_gemini, google_client_adapter(google=clients.make()))
        await clients.aclose()

    async def test_what_reached_gemini(self, client, scripted_provider):
        """systemInstruction, function declarations, generationConfig, and the tool results paired back
        to Gemini's function calls (two calls to the same function: answers in the calls' order)."""
        fake = scripted_provider.fake
        both = [("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})]
        scripted_provider.script(Reply(tool_calls=both), Reply(text="Cold in Oslo, warm in Rome."))
        a = await call(client.beta.assistants.create(model="test-model", instructions="Be brief.", tools=[WEATHER],
                                                     temperature=0.3, top_p=0.9))
        t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "Oslo and Rome?"}]))
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id,
                                                                  max_completion_tokens=200))
        calls = run.required_action.submit_tool_outputs.tool_calls
        assert [c.function.arguments for c in calls] == ['{"city": "Oslo"}', '{"city": "Rome"}']
        assert all(c.id.startswith("call_") for c in calls) and calls[0].id != calls[1].id
        outputs = {calls[0].id: "-3C", calls[1].id: "24C"}
        run = await call(client.beta.threads.runs.submit_tool_outputs_and_poll(  # answered in reverse order
            run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": i, "output": o}
                                                         for i, o in reversed(outputs.items())]))
        assert run.status == "completed", run.last_error

        first, second = fake.generate_requests[-2:]
        assert first["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
        assert first["contents"] == [{"role": "user", "parts": [{"text": "Oslo and Rome?"}]}]
        assert first["tools"] == [{"functionDeclarations": [{"name": "get_weather", "parameters": {
            "type": "OBJECT", "properties": {"city": {"type": "STRING"}}}}]}]
        assert first["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
        assert first["generationConfig"] == {"temperature": 0.3, "topP": 0.9, "maxOutputTokens": 200}
        assert [c["role"] for c in second["contents"]] == ["user", "model", "user"]
        assert second["contents"][1]["parts"] == [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                                                  {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]
        assert second["contents"][2]["parts"] == [
            {"functionResponse": {"name": "get_weather", "response": {"result": "-3C"}}},
            {"functionResponse": {"name": "get_weather", "response": {"result": "24C"}}}]
        assert fake.requests[-1]["path"].endswith(":streamGenerateContent?alt=sse")

    async def test_response_format_and_tool_choice_reach_gemini(self, client, scripted_provider):
        fake = scripted_provider.fake
        scripted_provider.script(Reply(tool_calls=[("get_weather", {"city": "Paris"})]), Reply(text='{"ok": true}'))
        schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
                  "additionalProperties": False}
        a, t = await self._setup(client, tools=[WEATHER])
        run = await call(client.beta.threads.runs.create_and_poll(
            thread_id=t.id, assistant_id=a.id, tool_choice={"type": "function", "function": {"name": "get_weather"}},
            response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema, "strict": True}}))
        assert run.status == "requires_action", run.last_error
        sent = fake.generate_requests[-1]
        assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY",
                                                                "allowedFunctionNames": ["get_weather"]}}
        assert sent["generationConfig"]["responseMimeType"] == "application/json"
        assert sent["generationConfig"]["responseSchema"] == {
            "type": "OBJECT", "properties": {"ok": {"type": "BOOLEAN"}}, "required": ["ok"]}
