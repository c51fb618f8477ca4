"""The adapter through the real mistralai SDK against the fake: requests as Mistral received them,
answers as OpenAI shapes, error mapping, configuration."""

import httpx2
import pytest
from mistralai.client import Mistral

from supercompat import plugins
from supercompat.errors import APIError, ConfigError
from supercompat.testing import Reply
from supercompat.testing.clients import assert_imports_lazily, configured_client_adapter
from supercompat_mistral import MistralClientAdapter, mistral_client_adapter
from supercompat_mistral.testing import Error

PARAMS = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "Tell me a story"}]}


async def collect(adapter, params=PARAMS):
    return [chunk async for chunk in adapter.chat_completions_stream(params)]


def text_of(chunks):
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_uses_the_sdk_methods_its_client_was_built_for():
    with httpx2.Client() as http:
        assert not mistral_client_adapter(mistral=Mistral(api_key="k", client=http)).is_async
        assert mistral_client_adapter(mistral=Mistral(api_key="k", client=http), use_async=True).is_async
    assert mistral_client_adapter(mistral=Mistral(api_key="k")).is_async
    assert not mistral_client_adapter(mistral=Mistral(api_key="k"), use_async=False).is_async


def test_rejects_what_is_not_a_mistral_client():
    with pytest.raises(TypeError, match="mistralai.client.Mistral"):
        mistral_client_adapter(mistral=object())


async def test_request_as_mistral_received_it(adapter, fake):
    await collect(adapter)
    request = fake.requests[-1]
    assert (request["method"], request["path"]) == ("POST", "/v1/chat/completions")
    assert request["headers"]["authorization"] == "Bearer test-key"
    assert request["headers"]["accept"] == "text/event-stream"
    assert request["body"] == {**PARAMS, "stream": True}


async def test_a_trailing_assistant_message_is_continued_without_repeating_it(adapter, fake):
    params = {**PARAMS, "messages": [*PARAMS["messages"], {"role": "assistant", "content": "Once upon"}]}
    fake.script(Reply(text=" a time."), Reply(text=" a time."))
    assert text_of(await collect(adapter, params)) == " a time."
    assert (await adapter.chat_completions(params))["choices"][0]["message"]["content"] == " a time."
    assert fake.chat_requests[-1]["messages"][-1] == {"role": "assistant", "content": "Once upon", "prefix": True}


async def test_model_map(make_client, fake):
    adapter = mistral_client_adapter(mistral=make_client(), model_map={"gpt-4.1-mini": "mistral-large-latest"})
    await adapter.chat_completions({**PARAMS, "model": "gpt-4.1-mini"})
    await collect(adapter, {**PARAMS, "model": "gpt-4.1-mini"})
    await adapter.chat_completions({**PARAMS, "model": "other"})
    assert [r["model"] for r in fake.chat_requests] == ["mistral-large-latest", "mistral-large-latest", "other"]


@pytest.mark.parametrize("finish", ["length", "model_length"])
async def test_length_finishes(adapter, fake, finish):
    fake.script(Reply(text="Cut", finish_reason=finish), Reply(text="Cut", finish_reason=finish))
    assert [c["choices"][0]["finish_reason"] for c in await collect(adapter)][-1] == "length"
    assert (await adapter.chat_completions(PARAMS))["choices"][0]["finish_reason"] == "length"


async def test_finish_reason_error_is_a_502(adapter, fake):
    fake.script(Reply(text="Oops", finish_reason="error"))
    with pytest.raises(APIError) as info:
        await collect(adapter)
    assert info.value.status == 502


async def test_usage_only_when_asked_for(adapter, fake):
    assert not any("usage" in c for c in await collect(adapter))
    chunks = await collect(adapter, {**PARAMS, "stream_options": {"include_usage": True}})
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


async def test_list_models(adapter):
    assert await adapter.list_models() == [{"id": "mistral-small-latest", "object": "model",
                                            "created": 1700000000, "owned_by": "mistralai"}]


@pytest.mark.parametrize("error", [
    Error(400, "Tool call id was abc but must be a-z, A-Z, 0-9, with a length of 9.", "invalid_request_error"),
    Error(401, "Unauthorized", "invalid_request_error"),
    Error(429, "Requests rate limit exceeded", "rate_limit_error", code="1300"),
    Error(503, "Service unavailable", "internal_server_error"),
], ids=["400", "401", "429", "503"])
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_http_errors_keep_status_and_message(adapter, fake, error, stream):
    fake.script(error)
    with pytest.raises(APIError) as info:
        await (collect(adapter) if stream else adapter.chat_completions(PARAMS))
    e = info.value
    code = error.code or ("invalid_api_key" if error.status == 401 else None)  # OpenAI's code for a bad key
    assert (e.status, e.message, e.type, e.code) == (error.status, error.message, error.type, code)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_mistral_schema_errors_are_openai_400s(adapter, fake, stream):
    fake.script(Error(422, "Extra inputs are not permitted", "invalid_request_error"))
    with pytest.raises(APIError) as info:
        await (collect(adapter) if stream else adapter.chat_completions(PARAMS))
    assert (info.value.status, info.value.type) == (400, "invalid_request_error")
    assert "Extra inputs are not permitted" in info.value.message


def test_importing_the_plugin_does_not_import_the_sdk():
    assert_imports_lazily("supercompat_mistral", "supercompat_mistral.embedder", "mistralai")


async def test_registered_through_its_entry_point(fake):
    async with configured_client_adapter("mistral", {
            "api_key": "k", "base_url": fake.server_url, "timeout": 5,
            "model_map": {"gpt-4o": "mistral-large-latest"}}) as adapter:
        assert isinstance(adapter, MistralClientAdapter)
        assert adapter.client.sdk_configuration.timeout_ms == 5000
        completion = await adapter.chat_completions({**PARAMS, "model": "gpt-4o"})
        assert completion["choices"][0]["message"]["content"] == "You said: Tell me a story"
    request = fake.requests[-1]
    assert request["body"]["model"] == "mistral-large-latest"
    assert request["headers"]["authorization"] == "Bearer k"


def test_configuration_errors(monkeypatch):
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    plugins.reset()
    spec = plugins.get_adapter_spec("client", "mistral")
    with pytest.raises(ConfigError, match="MISTRAL_API_KEY"):
        spec.build({})
    with pytest.raises(ConfigError, match="server_url or base_url"):
        spec.build({"api_key": "k", "server_url": "http://a", "base_url": "http://b"})
    monkeypatch.setenv("MISTRAL_API_KEY", "from-env")
    assert spec.build({"server": "eu"}).client.sdk_configuration.get_server_details()[0] == "https://api.eu.mistral.ai"
