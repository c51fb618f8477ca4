"""Chat-completions <-> Messages API translation: the edge cases, one function at a time."""

import json

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from supercompat.errors import APIError
from supercompat_anthropic.testing import problem
from supercompat_anthropic.translate import (
    JSON_OBJECT_INSTRUCTION,
    StreamTranslator,
    chat_completion,
    default_max_tokens,
    messages_request,
    usage,
)

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}


def translate(messages=None, model="claude-sonnet-4-6", default=None, **params):
    """The Messages API body for these chat-completions params; ``default`` is the adapter's max_tokens."""
    body = messages_request({"model": model, "messages": messages or [{"role": "user", "content": "hi"}], **params},
                            model=model, max_tokens=default, stream=False)
    assert problem(body) is None, problem(body)  # whatever we send, the Messages API accepts
    return body


def text(value):
    return {"type": "text", "text": value}


def test_system_and_developer_messages_become_the_system_prompt():
    body = translate([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                      {"role": "developer", "content": [text("Use metric units.")]}])
    assert body["system"] == "Be brief.\n\nUse metric units."
    assert body["messages"] == [{"role": "user", "content": [text("hi")]}]


def test_consecutive_turns_of_one_role_merge():
    body = translate([{"role": "user", "content": "a"}, {"role": "user", "content": [text("b")]},
                      {"role": "assistant", "content": "c"}, {"role": "assistant", "content": "d"},
                      {"role": "assistant", "content": ""},  # nothing to say: no empty block
                      {"role": "user", "content": "e"}])
    assert body["messages"] == [{"role": "user", "content": [text("a"), text("b")]},
                                {"role": "assistant", "content": [text("c"), text("d")]},
                                {"role": "user", "content": [text("e")]}]


def test_tool_calls_and_results_pair_up_with_their_ids():
    calls = [{"id": "call_toolu_1", "type": "function",
              "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
             {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}]
    body = translate([{"role": "user", "content": "weather and time?"},
                      {"role": "assistant", "content": "Checking.", "tool_calls": calls},
                      {"role": "tool", "tool_call_id": "call_toolu_1", "content": "-3C"},
                      {"role": "tool", "tool_call_id": "call_2", "content": [text("12:00")]},
                      {"role": "user", "content": "and tomorrow?"}])
    assert body["messages"][1:] == [
        {"role": "assistant", "content": [text("Checking."),
                                          {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Oslo"}},
                                          {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "-3C"},
                                     {"type": "tool_result", "tool_use_id": "call_2", "content": "12:00"},
                                     text("and tomorrow?")]}]


def test_tool_results_come_first_in_a_merged_user_turn():
    calls = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    body = translate([{"role": "user", "content": "go"}, {"role": "assistant", "content": None, "tool_calls": calls},
                      {"role": "user", "content": "hurry"}, {"role": "tool", "tool_call_id": "call_1", "content": ""}])
    assert body["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "call_1"}, text("hurry")]


def test_ids_claude_would_reject_are_made_to_fit_on_both_sides():
    calls = [{"id": "call:1.a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    body = translate([{"role": "user", "content": "go"}, {"role": "assistant", "content": None, "tool_calls": calls},
                      {"role": "tool", "tool_call_id": "call:1.a", "content": "ok"}])
    assert body["messages"][1]["content"][0]["id"] == body["messages"][2]["content"][0]["tool_use_id"] == "call_1_a"


def test_arguments_that_are_not_a_json_object_are_refused():
    calls = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}]
    with pytest.raises(APIError) as info:
        translate([{"role": "assistant", "content": None, "tool_calls": calls}])
    assert info.value.status == 400 and "call_1" in info.value.message


@pytest.mark.parametrize("choice, parallel, expected", [
    (None, None, None),
    ("auto", True, {"type": "auto"}),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", None, {"type": "any"}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    ("none", False, {"type": "none"}),
    ({"type": "function", "function": {"name": "get_weather"}}, None, {"type": "tool", "name": "get_weather"}),
])
def test_tool_choice(choice, parallel, expected):
    params = {"tools": [WEATHER]}
    if choice is not None:
        params["tool_choice"] = choice
    if parallel is not None:
        params["parallel_tool_calls"] = parallel
    body = translate(**params)
    assert body.get("tool_choice") == expected
    assert body["tools"] == [{"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}]


def test_tool_choice_without_tools_is_left_out():
    assert "tool_choice" not in translate(tool_choice="auto", parallel_tool_calls=False)


def test_tool_descriptions_strictness_and_missing_parameters():
    tool = {"type": "function", "function": {"name": "ping", "description": "Ping it", "strict": True}}
    assert translate(tools=[tool])["tools"] == [
        {"name": "ping", "input_schema": {"type": "object"}, "description": "Ping it", "strict": True}]


@pytest.mark.parametrize("model, expected", [("claude-3-haiku-20240307", 4096), ("claude-3-5-haiku-latest", 8192),
                                             ("claude-sonnet-4-6", 16384), ("my-proxy-model", 16384)])
def test_max_tokens_default_per_model(model, expected):
    assert default_max_tokens(model) == expected
    assert translate(model=model)["max_tokens"] == expected


def test_max_tokens_from_the_request_then_the_configured_default():
    assert translate(max_completion_tokens=50, max_tokens=70, default=999)["max_tokens"] == 50
    assert translate(max_tokens=70, default=999)["max_tokens"] == 70  # the older OpenAI name
    assert translate(default=999)["max_tokens"] == 999
    assert translate()["max_tokens"] == 16384


@pytest.mark.parametrize("temperature, top_p, expected", [
    (0.3, 1.0, {"temperature": 0.3}),
    (1.0, 0.5, {"top_p": 0.5}),
    (1.8, None, {"temperature": 1.0}),  # OpenAI goes to 2, Claude to 1
    (None, 0.9, {"top_p": 0.9}),
    (0.2, 0.9, {"temperature": 0.2}),
    (None, None, {}),
])
def test_sampling(temperature, top_p, expected):
    body = translate(temperature=temperature, top_p=top_p)
    assert {k: body[k] for k in ("temperature", "top_p") if k in body} == expected


def test_stop_becomes_stop_sequences():
    assert translate(stop="END")["stop_sequences"] == ["END"]
    assert translate(stop=["a", "b"])["stop_sequences"] == ["a", "b"]
    assert "stop_sequences" not in translate(stop=None)


def test_response_formats():
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"]}
    body = translate(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    fmt = body["output_config"]["format"]
    assert fmt["type"] == "json_schema" and fmt["schema"]["additionalProperties"] is False
    assert fmt["schema"]["required"] == ["n"]
    body = translate([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
                     response_format={"type": "json_object"})
    assert body["system"] == "Be brief.\n\n" + JSON_OBJECT_INSTRUCTION and "output_config" not in body
    assert "output_config" not in translate(response_format={"type": "text"})


def test_reasoning_effort_and_user():
    body = translate(reasoning_effort="minimal", user="u-1")
    assert body["output_config"] == {"effort": "low"} and body["metadata"] == {"user_id": "u-1"}


def test_image_parts_by_url_and_base64():
    body = translate([{"role": "user", "content": [
        text("What is this?"),
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}])
    assert body["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]


@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}],
    [{"role": "function", "name": "f", "content": "x"}],
], ids=["audio-part", "function-role"])
def test_what_claude_cannot_take_is_a_400(messages):
    with pytest.raises(APIError) as info:
        translate(messages)
    assert info.value.status == 400


# -- responses ------------------------------------------------------------------------------------

MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-6",
           "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"}, text("Let me check."),
                       {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
                       {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}],
           "stop_reason": "tool_use", "stop_sequence": None,
           "usage": {"input_tokens": 10, "output_tokens": 7, "cache_read_input_tokens": 90,
                     "cache_creation_input_tokens": 5}}


def test_a_message_becomes_a_chat_completion():
    completion = chat_completion(MESSAGE)
    ChatCompletion.model_validate(completion)
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] == "Let me check."
    assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in choice["message"]["tool_calls"]] == [("call_toolu_1", "get_weather", {"city": "Oslo"}),
                                                          ("call_toolu_2", "get_time", {})]
    assert completion["usage"] == {"prompt_tokens": 105, "completion_tokens": 7, "total_tokens": 112,
                                   "prompt_tokens_details": {"cached_tokens": 90}}


@pytest.mark.parametrize("stop_reason, finish", [("end_turn", "stop"), ("stop_sequence", "stop"),
                                                 ("max_tokens", "length"), ("tool_use", "tool_calls"),
                                                 ("refusal", "content_filter"),
                                                 ("model_context_window_exceeded", "length"), ("pause_turn", "stop")])
def test_stop_reasons(stop_reason, finish):
    completion = chat_completion({**MESSAGE, "content": [text("x")], "stop_reason": stop_reason})
    assert completion["choices"][0]["finish_reason"] == finish
    assert "tool_calls" not in completion["choices"][0]["message"]


def test_usage_without_cache_fields():
    assert usage({"input_tokens": 3, "output_tokens": 2}) == {
        "prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "prompt_tokens_details": {"cached_tokens": 0}}


def test_something_that_is_not_a_message_is_a_502():
    with pytest.raises(APIError) as info:
        chat_completion("<html>")
    assert info.value.status == 502


# -- streams --------------------------------------------------------------------------------------

def events(*blocks, stop_reason="end_turn"):
    """A Messages API event sequence: ``blocks`` are (start block, [deltas]) pairs."""
    out = [{"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "content": [],
                                                 "usage": {"input_tokens": 9, "output_tokens": 1}}},
           {"type": "ping"}]
    for index, (block, deltas) in enumerate(blocks):
        out.append({"type": "content_block_start", "index": index, "content_block": block})
        out += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        out.append({"type": "content_block_stop", "index": index})
    out += [{"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": {"output_tokens": 12}},
            {"type": "message_stop"}]
    return out


def translate_stream(event_list, include_usage=True):
    translator = StreamTranslator(include_usage)
    chunks = [chunk for event in event_list for chunk in translator.chunks(event)]
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    return chunks


def deltas(chunks):
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


def test_stream_of_text_with_thinking_and_unknown_events():
    chunks = translate_stream(events(
        ({"type": "thinking", "thinking": "", "signature": ""},
         [{"type": "thinking_delta", "thinking": "hmm"}, {"type": "signature_delta", "signature": "sig"}]),
        ({"type": "text", "text": ""}, [{"type": "text_delta", "text": "Hel"}, {"type": "citations_delta"},
                                        {"type": "text_delta", "text": "lo"}]),
    ) + [{"type": "some_future_event", "data": 1}])
    assert deltas(chunks) == [{"role": "assistant", "content": ""}, {"content": "Hel"}, {"content": "lo"}, {}]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 12
    assert chunks[-1]["usage"]["prompt_tokens"] == 9
    assert {c["id"] for c in chunks} == {"msg_1"} and {c["model"] for c in chunks} == {"claude-x"}


def test_stream_of_parallel_tool_calls_names_each_once():
    chunks = translate_stream(events(
        ({"type": "text", "text": ""}, [{"type": "text_delta", "text": "Checking"}]),
        ({"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
         [{"type": "input_json_delta", "partial_json": ""},
          {"type": "input_json_delta", "partial_json": '{"city": "Pa'},
          {"type": "input_json_delta", "partial_json": 'ris"}'}]),
        ({"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
         [{"type": "input_json_delta", "partial_json": ""}]),
        stop_reason="tool_use"), include_usage=False)
    calls = [d["tool_calls"][0] for d in deltas(chunks) if "tool_calls" in d]
    assert calls == [
        {"index": 0, "id": "call_toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"city": "Pa'}},
        {"index": 0, "function": {"arguments": 'ris"}'}},
        {"index": 1, "id": "call_toolu_2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
        {"index": 1, "function": {"arguments": "{}"}}]  # no arguments streamed: an empty object, as OpenAI sends
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_tool_call_that_arrives_whole_keeps_its_input():
    chunks = translate_stream(events(({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}, []),
                                     stop_reason="tool_use"))
    assert {"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 1}'}}]} in deltas(chunks)


def test_stream_cut_short_has_no_finish_reason():
    chunks = translate_stream(events(({"type": "text", "text": ""}, [{"type": "text_delta", "text": "Hi"}]))[:-3])
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)


def test_stream_that_does_not_start_with_message_start_is_a_502():
    with pytest.raises(APIError) as info:
        translate_stream([{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}])
    assert info.value.status == 502
