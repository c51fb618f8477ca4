"""The openai client adapter against the fake provider, through the real openai SDK (sync and async)."""

import json

import openai
import pytest

from supercompat import plugins
from supercompat.errors import APIError, ConfigError
from supercompat.testing.clients import assert_imports_lazily, configured_client_adapter
from supercompat_openai import OpenAIClientAdapter, openai_client_adapter
from supercompat_openai.testing import Error, Length, MidStreamError, Text, ToolCalls

PARAMS = {"model": "fake-model", "messages": [{"role": "user", "content": "Hi there"}]}
STREAM = {**PARAMS, "stream_options": {"include_usage": True}}


async def collect(adapter, params=STREAM):
    return [chunk async for chunk in adapter.chat_completions_stream(params)]


async def test_streams_text_then_finish_then_usage(adapter, fake):
    chunks = await collect(adapter)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "alpha bravo charlie delta echo"
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    for chunk in chunks[:-2]:  # explicit nulls survive the conversion to dicts
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["choices"][0]["finish_reason"] is None and chunk["choices"][0]["logprobs"] is None
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 5
    assert chunks[-1]["usage"]["total_tokens"] == chunks[-1]["usage"]["prompt_tokens"] + 5
    sent = fake.chat_requests[-1]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["messages"] == PARAMS["messages"]


async def test_no_usage_chunk_unless_asked(adapter):
    chunks = await collect(adapter, PARAMS)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["choices"] for c in chunks)


async def test_streams_parallel_tool_calls(adapter, fake):
    fake.script(ToolCalls([("get_weather", '{"city":"Paris"}'), ("get_time", "{}")]))
    chunks = await collect(adapter)
    fragments = {}
    for chunk in chunks:
        for call in (chunk["choices"][0]["delta"].get("tool_calls") or []) if chunk["choices"] else []:
            fragments.setdefault(call["index"], []).append(call)
    assert sorted(fragments) == [0, 1]
    names = []
    for index, calls in fragments.items():
        first, rest = calls[0], calls[1:]
        assert first["id"].startswith("call_") and first["type"] == "function"
        names.append(first["function"]["name"])
        assert len(rest) >= 2  # the arguments arrive over several fragments
        assert all("id" not in c and "type" not in c and "name" not in c["function"] for c in rest)
        arguments = "".join(c["function"]["arguments"] for c in calls)
        assert json.loads(arguments) == ({"city": "Paris"} if index == 0 else {})
    assert names == ["get_weather", "get_time"]
    assert fragments[0][0]["id"] != fragments[1][0]["id"]
    assert [c for c in chunks if c["choices"]][-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_non_streaming(adapter, fake):
    fake.script(ToolCalls([("get_weather", {"city": "Paris"})]), Text("hello world"))
    calls = await adapter.chat_completions(STREAM)
    assert calls["object"] == "chat.completion"
    assert calls["choices"][0]["finish_reason"] == "tool_calls"
    call = calls["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    completion = await adapter.chat_completions(PARAMS)
    assert completion["choices"][0]["message"]["content"] == "hello world"
    assert completion["choices"][0]["logprobs"] is None
    assert completion["usage"]["completion_tokens"] == 2
    sent = fake.chat_requests[0]
    assert sent["stream"] is False and "stream_options" not in sent  # OpenAI rejects it without stream


async def test_scripted_usage_and_length(adapter, fake):
    fake.script(Length("partial text", usage={"prompt_tokens": 7}))
    chunks = await collect(adapter)
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["prompt_tokens"] == 7 and chunks[-1]["usage"]["total_tokens"] == 9


async def test_parameters_pass_through(adapter, fake):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    params = {**PARAMS, "tools": tools, "tool_choice": "auto", "parallel_tool_calls": False,
              "temperature": 0.5,
              "top_p": 0.9, "response_format": {"type": "json_object"}, "max_completion_tokens": 64,
              "top_k": 3}  # not an OpenAI field: sent as is, for compatible endpoints that take it
    await adapter.chat_completions(params)
    assert fake.chat_requests[-1] == {**params, "stream": False}


async def test_model_map(make_client, fake):
    adapter = openai_client_adapter(openai=make_client(), model_map={"gpt-4.1-mini": "fake-model"})
    await adapter.chat_completions({**PARAMS, "model": "gpt-4.1-mini"})
    await collect(adapter, {**PARAMS, "model": "gpt-4.1-mini"})
    await adapter.chat_completions({**PARAMS, "model": "other"})
    assert [r["model"] for r in fake.chat_requests] == ["fake-model", "fake-model", "other"]


async def test_list_models(adapter):
    models = await adapter.list_models()
    assert models == [{"id": "fake-model", "object": "model", "created": 1700000000,
                       "owned_by": "supercompat"}]


@pytest.mark.parametrize("error", [
    Error(500, "The server had an error.", "server_error"),
    Error(429, "Rate limit reached for requests.", "requests", code="rate_limit_exceeded"),
    Error(400, "Invalid value for 'temperature'.", "invalid_request_error", code="invalid_value",
          param="temperature"),
], ids=["500", "429", "400"])
@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_http_errors_keep_status_and_body(adapter, fake, error, stream):
    fake.script(error)
    with pytest.raises(APIError) as info:
        await (collect(adapter) if stream else adapter.chat_completions(PARAMS))
    e = info.value
    assert (e.status, e.message, e.type, e.code, e.param) == (error.status, error.message, error.type,
                                                               error.code, error.param)
    assert isinstance(e.__cause__, openai.APIStatusError)


async def test_error_without_type_gets_one(adapter, fake):
    fake.script(Error(429, "slow down", type=None))
    with pytest.raises(APIError) as info:
        await adapter.chat_completions(PARAMS)
    assert (info.value.status, info.value.type) == (429, "rate_limit_error")


async def test_mid_stream_error_is_502_with_provider_message(adapter, fake):
    # after=8: more words than the fixture's default answer has; the error frame still comes.
    fake.script(MidStreamError("Overloaded, try again.", type="server_error", code="overloaded", after=8))
    with pytest.raises(APIError) as info:
        await collect(adapter)
    assert (info.value.status, info.value.message, info.value.type, info.value.code) == (
        502, "Overloaded, try again.", "server_error", "overloaded")


def test_rejects_what_is_not_an_openai_client():
    with pytest.raises(TypeError, match="openai.OpenAI or openai.AsyncOpenAI"):
        openai_client_adapter(openai=object())


def test_importing_the_plugin_does_not_import_the_adapter():
    assert_imports_lazily("supercompat_openai")  # the openai SDK itself: core imports it


async def test_registered_through_its_entry_point(fake):
    async with configured_client_adapter("openai", {
            "api_key": "k", "base_url": fake.base_url, "organization": "org-1", "project": "p-1", "timeout": 5,
            "max_retries": 0, "model_map": {"gpt-4o": "fake-model"}}) as adapter:
        assert isinstance(adapter, OpenAIClientAdapter)
        assert adapter.client.timeout == 5 and adapter.client.max_retries == 0
        completion = await adapter.chat_completions({**PARAMS, "model": "gpt-4o"})
        assert completion["choices"][0]["message"]["content"] == "alpha bravo charlie delta echo"
    request = fake.requests[-1]
    assert request["body"]["model"] == "fake-model"
    assert request["headers"]["authorization"] == "Bearer k"
    assert request["headers"]["openai-organization"] == "org-1"
    assert request["headers"]["openai-project"] == "p-1"


def test_missing_api_key_is_a_config_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    plugins.reset()
    with pytest.raises(ConfigError, match='plugin "openai"'):
        plugins.get_adapter_spec("client", "openai").build({})
