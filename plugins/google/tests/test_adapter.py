"""The google adapter through the real google-genai SDK (sync and async) against the fake Gemini:
wire details, the tool round trip, error mapping, models, configuration."""

import base64

import pytest
from google.genai import errors

from supercompat import plugins
from supercompat.errors import APIError, ConfigError
from supercompat.testing.clients import assert_imports_lazily, configured_client_adapter
from supercompat_google import google_client_adapter
from supercompat_google.adapter import GoogleClientAdapter
from supercompat_google.testing import Error, FunctionCalls, MidStreamError, PromptBlocked, Text

PARAMS = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "Hi there"}]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


async def collect(adapter, params=PARAMS):
    return [chunk async for chunk in adapter.chat_completions_stream(params)]


async def test_streams_text_in_pieces_as_gemini_sends_it(adapter, fake):
    fake.script(Text("Sunny and mild", chunks=["Sun", "ny and", " mild"]))
    chunks = await collect(adapter, {**PARAMS, "stream_options": {"include_usage": True}})
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"]["content"] for c in chunks[1:4]] == ["Sun", "ny and", " mild"]
    assert chunks[4]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert chunks[5]["choices"] == [] and chunks[5]["usage"]["completion_tokens"] == 3
    assert len({c["id"] for c in chunks}) == 1
    request = fake.requests[-1]
    assert request["path"] == "/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert request["headers"]["x-goog-api-key"] == "test-key"


async def test_model_map_and_api_version(make_client, fake):
    adapter = google_client_adapter(google=make_client(api_version="v1beta"),
                                    model_map={"gpt-4.1-mini": "gemini-2.5-flash"})
    completion = await adapter.chat_completions({**PARAMS, "model": "gpt-4.1-mini"})
    assert completion["model"] == "gpt-4.1-mini"
    assert completion["choices"][0]["message"]["content"] == "alpha bravo charlie"
    assert fake.requests[-1]["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"


async def test_gemini_call_ids_and_thought_signatures_survive_the_round_trip(adapter, fake):
    signature = base64.b64encode(b"opaque-thought").decode()
    fake.script(FunctionCalls([("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})], ids=True,
                              thought_signature=signature), Text("Done."))
    first = await adapter.chat_completions({**PARAMS, "tools": TOOLS})
    calls = first["choices"][0]["message"]["tool_calls"]
    gemini_calls = fake.requests[-1]  # the answer's ids are in the response, not the request
    messages = [*PARAMS["messages"], {"role": "assistant", "content": None, "tool_calls": calls},
                *({"role": "tool", "tool_call_id": c["id"], "content": f"r{i}"} for i, c in enumerate(calls))]
    chunks = await collect(adapter, {**PARAMS, "messages": messages, "tools": TOOLS})
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Done."
    model_turn, answers = fake.generate_requests[-1]["contents"][1:]
    assert model_turn["parts"][0]["thoughtSignature"] == signature
    ids = [p["functionCall"]["id"] for p in model_turn["parts"]]
    assert len(set(ids)) == 2 and [p["functionResponse"]["id"] for p in answers["parts"]] == ids
    assert gemini_calls["method"] == "POST"


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_safety_stop_is_content_filter(adapter, fake, stream):
    fake.script(Text("", finish_reason="SAFETY"))
    if stream:
        chunks = await collect(adapter)
        assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "content_filter"
    else:
        assert (await adapter.chat_completions(PARAMS))["choices"][0]["finish_reason"] == "content_filter"


async def test_blocked_prompt_is_content_filter(adapter, fake):
    fake.script(PromptBlocked())
    chunks = await collect(adapter)
    assert chunks[-1]["choices"][0]["finish_reason"] == "content_filter"


@pytest.mark.parametrize("error, status, kind, code", [
    (Error(400, "Invalid value at 'contents'"), 400, "invalid_request_error", "invalid_argument"),
    (Error(403, "Permission denied"), 403, "invalid_request_error", "permission_denied"),
    (Error(404, "models/x is not found"), 404, "invalid_request_error", "not_found"),
    (Error(429, "Resource has been exhausted"), 429, "rate_limit_error", "rate_limit_exceeded"),
    (Error(500, "An internal error has occurred."), 500, "server_error", "internal"),
    (Error(503, "The model is overloaded."), 503, "server_error", "unavailable"),
], ids=["400", "403", "404", "429", "500", "503"])
@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_google_errors_keep_status_and_message(adapter, fake, error, status, kind, code, stream):
    fake.script(error)
    with pytest.raises(APIError) as info:
        await (collect(adapter) if stream else adapter.chat_completions(PARAMS))
    e = info.value
    assert (e.status, e.message, e.type, e.code) == (status, error.message, kind, code)
    assert isinstance(e.__cause__, errors.APIError)


async def test_gemini_400_for_an_invalid_key_is_a_401(make_client, fake):
    fake.api_key = "the-right-key"
    with pytest.raises(APIError) as info:
        await google_client_adapter(google=make_client()).chat_completions(PARAMS)
    assert (info.value.status, info.value.code) == (401, "invalid_api_key")
    assert "API key not valid" in info.value.message


async def test_requests_gemini_refuses_are_reported_with_its_message(adapter, fake):
    tools = [{"type": "function", "function": {"name": "get weather", "parameters": {"type": "object"}}}]
    with pytest.raises(APIError) as info:
        await adapter.chat_completions({**PARAMS, "tools": tools})
    assert info.value.status == 400 and "Invalid function name" in info.value.message


async def test_unknown_model_is_404(adapter):
    with pytest.raises(APIError) as info:
        await collect(adapter, {**PARAMS, "model": "gemini-0"})
    assert info.value.status == 404 and "models/gemini-0 is not found" in info.value.message


async def test_mid_stream_error_raises_after_the_text_so_far(adapter, fake):
    fake.script(MidStreamError(503, "The model is overloaded.", after=1))
    seen = []
    with pytest.raises(APIError) as info:
        async for chunk in adapter.chat_completions_stream(PARAMS):
            seen.append(chunk)
    assert (info.value.status, info.value.message) == (503, "The model is overloaded.")
    assert seen[-1]["choices"][0]["delta"] == {"content": "alpha"}


async def test_malformed_function_call_fails_the_turn(adapter, fake):
    fake.script(Text("", finish_reason="MALFORMED_FUNCTION_CALL"))
    with pytest.raises(APIError) as info:
        await collect(adapter)
    assert info.value.status == 502 and info.value.code == "malformed_function_call"


async def test_list_models(adapter):
    assert await adapter.list_models() == [
        {"id": "gemini-2.5-flash", "object": "model", "created": 0, "owned_by": "google"},
        {"id": "test-model", "object": "model", "created": 0, "owned_by": "google"}]


def test_rejects_what_is_not_a_genai_client():
    with pytest.raises(TypeError, match="google.genai.Client or its .aio"):
        google_client_adapter(google=object())


def test_importing_the_plugin_does_not_import_the_sdk():
    assert_imports_lazily("supercompat_google", "supercompat_google.embedder", "google.genai")


async def test_registered_through_its_entry_point(fake):
    async with configured_client_adapter("google", {
            "api_key": "k", "base_url": fake.base_url, "api_version": "v1beta", "timeout": 5,
            "model_map": {"gpt-4o": "gemini-2.5-flash"}}) as adapter:
        assert isinstance(adapter, GoogleClientAdapter)
        completion = await adapter.chat_completions({**PARAMS, "model": "gpt-4o"})
        assert completion["choices"][0]["message"]["content"] == "alpha bravo charlie"
    request = fake.requests[-1]
    assert request["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request["headers"]["x-goog-api-key"] == "k"


def test_missing_api_key_is_a_config_error(monkeypatch):
    for var in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(var, raising=False)
    plugins.reset()
    spec = plugins.get_adapter_spec("client", "google")
    with pytest.raises(ConfigError, match='plugin "google"'):
        spec.build({})


async def test_images_reach_gemini_as_inline_and_file_data(adapter, fake):
    png = base64.b64encode(b"\x89PNG\r\n").decode()
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
               {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]
    await adapter.chat_completions({**PARAMS, "messages": [{"role": "user", "content": content}]})
    # The SDK spells these nested fields in snake_case; Gemini reads either spelling.
    assert fake.generate_requests[-1]["contents"][0]["parts"] == [
        {"text": "What is this?"}, {"inlineData": {"mime_type": "image/png", "data": png}},
        {"fileData": {"file_uri": "https://example.com/cat.jpg", "mime_type": "image/jpeg"}}]
