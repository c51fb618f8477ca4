"""The anthropic client adapter against the fake provider, through the real anthropic SDK (sync and async)."""

import json

import anthropic
import pytest

from supercompat import plugins
from supercompat.config import build_adapter
from supercompat.errors import APIError, ConfigError
from supercompat.testing.clients import assert_imports_lazily, configured_client_adapter
from supercompat_anthropic import AnthropicClientAdapter, anthropic_client_adapter
from supercompat_anthropic.testing import Error, StreamError, Text, ToolUse

PARAMS = {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "Hi there"}]}
STREAM = {**PARAMS, "stream_options": {"include_usage": True}}


async def collect(adapter, params=STREAM):
    return [chunk async for chunk in adapter.chat_completions_stream(params)]


def content(chunks):
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


async def test_streamed_text_skips_thinking_and_pings(adapter, fake):
    fake.script(Text("Sunny and mild.", thinking="The user wants weather."))
    chunks = await collect(adapter)
    assert content(chunks) == "Sunny and mild."
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 5  # thinking, signature and three words, as the fake counts
    sent = fake.requests[-1]
    assert sent["path"] == "/v1/messages" and sent["body"]["stream"] is True
    assert sent["headers"]["authorization"] == "Bearer test-key" and sent["headers"]["anthropic-version"]


async def test_non_streaming_tool_calls(adapter, fake):
    fake.script(ToolUse([("get_weather", {"city": "Paris"}), ("get_time", {})], text="Checking."))
    completion = await adapter.chat_completions(PARAMS)
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] == "Checking."
    calls = choice["message"]["tool_calls"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"city": "Paris"}, {}]
    assert all(c["id"].startswith("call_toolu_") for c in calls)
    assert fake.message_requests[-1]["stream"] is False


async def test_model_map(make_client, fake):
    adapter = anthropic_client_adapter(anthropic=make_client(), model_map={"gpt-4.1-mini": "claude-haiku-4-5"},
                                       max_tokens=512)
    await adapter.chat_completions({**PARAMS, "model": "gpt-4.1-mini"})
    await collect(adapter, {**PARAMS, "model": "gpt-4.1-mini"})
    await adapter.chat_completions({**PARAMS, "model": "claude-sonnet-4-6", "max_completion_tokens": 9})
    assert [(r["model"], r["max_tokens"]) for r in fake.message_requests] == [
        ("claude-haiku-4-5", 512), ("claude-haiku-4-5", 512), ("claude-sonnet-4-6", 9)]


async def test_list_models(adapter):
    models = await adapter.list_models()
    assert [m["id"] for m in models] == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    assert all(m["object"] == "model" and m["owned_by"] == "anthropic" and m["created"] > 0 for m in models)


@pytest.mark.parametrize("status, anthropic_type, expected", [
    (400, "invalid_request_error", (400, "invalid_request_error", None)),
    (401, "authentication_error", (401, "invalid_request_error", "invalid_api_key")),
    (402, "billing_error", (429, "insufficient_quota", "insufficient_quota")),
    (403, "permission_error", (403, "invalid_request_error", "permission_denied")),
    (404, "not_found_error", (404, "invalid_request_error", None)),
    (413, "request_too_large", (400, "invalid_request_error", "request_too_large")),
    (429, "rate_limit_error", (429, "requests", "rate_limit_exceeded")),
    (500, "api_error", (500, "server_error", None)),
    (504, "timeout_error", (504, "server_error", "timeout")),
    (529, "overloaded_error", (503, "server_error", "overloaded")),
    (418, "teapot_error", (418, "invalid_request_error", None)),  # a type we don't know keeps its status
])
@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_http_errors_map_to_openai_status_and_type(adapter, fake, status, anthropic_type, expected, stream):
    fake.script(Error(status, "scripted failure", anthropic_type))
    with pytest.raises(APIError) as info:
        await (collect(adapter) if stream else adapter.chat_completions(PARAMS))
    e = info.value
    assert (e.status, e.type, e.code) == expected and e.message == "scripted failure"
    assert isinstance(e.__cause__, anthropic.APIStatusError)


@pytest.mark.parametrize("error_type, expected", [("overloaded_error", (503, "overloaded")),
                                                  ("api_error", (500, None)), ("surprise_error", (502, None))])
async def test_error_event_mid_stream_maps_by_its_type(adapter, fake, error_type, expected):
    fake.script(StreamError("Overloaded", type=error_type, after=2))
    with pytest.raises(APIError) as info:
        await collect(adapter)
    assert (info.value.status, info.value.code) == expected and info.value.message == "Overloaded"
    assert info.value.type == "server_error"


async def test_a_request_claude_would_reject_is_a_400_from_the_provider(adapter, fake):
    fake.script(Text("never sent"))
    calls = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    # A tool call nobody answered: the translation keeps it, and Claude refuses it, as OpenAI would.
    with pytest.raises(APIError) as info:
        await adapter.chat_completions({**PARAMS, "messages": [*PARAMS["messages"], {
            "role": "assistant", "content": None, "tool_calls": calls}, {"role": "user", "content": "well?"}]})
    assert info.value.status == 400 and "tool_result" in info.value.message
    assert (await adapter.chat_completions(PARAMS))["choices"][0]["message"]["content"] == "never sent"


def test_rejects_what_is_not_an_anthropic_client():
    with pytest.raises(TypeError, match="anthropic.Anthropic or anthropic.AsyncAnthropic"):
        anthropic_client_adapter(anthropic=object())


def test_importing_the_plugin_does_not_import_the_sdk():
    assert_imports_lazily("supercompat_anthropic", "anthropic")


async def test_registered_through_its_entry_point(fake):
    async with configured_client_adapter("anthropic", {
            "api_key": "k", "base_url": fake.base_url, "timeout": 5, "max_retries": 0, "max_tokens": 2048,
            "model_map": {"gpt-4o": "claude-sonnet-4-6"}}) as adapter:
        assert isinstance(adapter, AnthropicClientAdapter)
        assert adapter.client.timeout == 5 and adapter.client.max_retries == 0
        completion = await adapter.chat_completions({**PARAMS, "model": "gpt-4o"})
        assert completion["choices"][0]["message"]["content"] == "Hello from the fake Claude."
    request = fake.requests[-1]
    assert (request["body"]["model"], request["body"]["max_tokens"]) == ("claude-sonnet-4-6", 2048)
    assert request["headers"]["authorization"] == "Bearer k"


def test_missing_api_key_is_a_config_error(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    plugins.reset()
    with pytest.raises(ConfigError, match='plugin "anthropic"'):
        plugins.get_adapter_spec("client", "anthropic").build({})


@pytest.mark.parametrize("option, message", [({"temperature": 1}, "Unknown option 'temperature'"),
                                             ({"max_tokens": 0}, "Invalid option 'max_tokens'")])
def test_unknown_or_invalid_options_are_config_errors(option, message):
    plugins.reset()
    with pytest.raises(ConfigError, match=message):
        build_adapter("client", {"plugin": "anthropic", "api_key": "k", **option})
