"""Translation edge cases, on plain dicts: tool-call ids, message order, parameters, stream chunks."""

import re

import pytest

from supercompat.errors import APIError
from supercompat_mistral.translate import (
    BRIDGE,
    EchoFilter,
    StreamTranslator,
    completion,
    to_mistral,
    to_mistral_id,
    to_openai_id,
)

MISTRAL_ID = re.compile(r"[a-zA-Z0-9]{9}")
USER = {"role": "user", "content": "hi"}


def messages(*chat):
    return to_mistral({"model": "m", "messages": list(chat)}, "m")[0]["messages"]


def test_mistral_ids_round_trip_through_the_ids_users_see():
    assert to_openai_id("D681PevKs") == "call_D681PevKs"
    assert to_mistral_id("call_D681PevKs") == "D681PevKs"
    assert to_mistral_id("D681PevKs") == "D681PevKs"


@pytest.mark.parametrize("foreign", ["call_4XzlGBLtUe9dy3GVNV4jhq7h", "toolu_01A", "call_abc", "call_abc-def12"])
def test_other_ids_get_a_stable_nine_character_digest(foreign):
    mapped = to_mistral_id(foreign)
    assert MISTRAL_ID.fullmatch(mapped) and to_mistral_id(foreign) == mapped
    assert mapped != to_mistral_id(foreign + "x")


def test_missing_mistral_ids_get_a_fresh_one():
    first, second = to_openai_id("null"), to_openai_id(None)
    assert MISTRAL_ID.fullmatch(first[5:]) and MISTRAL_ID.fullmatch(second[5:]) and first != second


def test_a_foreign_id_maps_the_same_in_the_call_and_its_result():
    call = {"id": "call_4XzlGBLtUe9dy3GVNV4jhq7h", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    sent = messages(USER, {"role": "assistant", "content": None, "tool_calls": [call]},
                    {"role": "tool", "tool_call_id": call["id"], "content": "sunny"})
    assert sent[1] == {"role": "assistant", "content": "", "tool_calls": [
        {"id": to_mistral_id(call["id"]), "type": "function", "function": call["function"]}]}
    assert sent[2] == {"role": "tool", "tool_call_id": to_mistral_id(call["id"]), "name": "get_weather",
                       "content": "sunny"}


def test_developer_is_system_and_content_parts_become_text():
    sent = messages({"role": "developer",
                     "content": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]}, USER)
    assert sent[0] == {"role": "system", "content": "Be brief."}


def test_image_parts():
    sent = messages({"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}]})
    assert sent[0]["content"] == [{"type": "text", "text": "What is this?"},
                                  {"type": "image_url", "image_url": "https://example.com/a.png"},
                                  {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA",
                                                                      "detail": "low"}}]


@pytest.mark.parametrize("part", [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}},
                                  {"type": "file", "file": {"file_id": "f"}}])
def test_content_mistral_cannot_take_is_a_400(part):
    with pytest.raises(APIError) as info:
        messages({"role": "user", "content": [part]})
    assert info.value.status == 400 and part["type"] in info.value.message


def test_a_tool_result_followed_by_a_user_message_gets_an_assistant_turn_between():
    call = {"id": "call_abcDEF123", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    sent = messages(USER, {"role": "assistant", "content": None, "tool_calls": [call]},
                    {"role": "tool", "tool_call_id": "call_abcDEF123", "content": "r"},
                    {"role": "system", "content": "Later instructions."}, USER)
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "system", "user"]
    assert sent[3] == {"role": "assistant", "content": BRIDGE}


def test_a_trailing_assistant_message_is_a_prefix_and_empty_ones_are_dropped():
    request, prefix = to_mistral({"model": "m", "messages": [
        USER, {"role": "assistant", "content": ""}, USER, {"role": "assistant", "content": "Once upon"}]}, "m")
    assert request["messages"] == [USER, USER, {"role": "assistant", "content": "Once upon", "prefix": True}]
    assert prefix == "Once upon"


def test_parameters_under_mistral_names():
    tools = [{"type": "function", "function": {"name": "f", "description": "d", "strict": True}}]
    request, _ = to_mistral({
        "model": "gpt-4.1-mini", "messages": [USER], "tools": tools, "tool_choice": "required",
        "parallel_tool_calls": False, "temperature": 0.3, "top_p": 0.5, "max_completion_tokens": 9,
        "stop": ["END"], "seed": 7, "response_format": {"type": "json_object"}, "stream": True,
        "stream_options": {"include_usage": True}, "user": "u-1", "logprobs": False}, "mistral-small-latest")
    assert request == {
        "model": "mistral-small-latest", "messages": [USER], "temperature": 0.3, "top_p": 0.5, "stop": ["END"],
        "parallel_tool_calls": False, "random_seed": 7, "max_tokens": 9, "tool_choice": "any",
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "strict": True,
                                                    "parameters": {"type": "object", "properties": {}}}}],
        "response_format": {"type": "json_object"}}


def test_max_tokens_and_tool_settings_without_tools():
    request, _ = to_mistral({"model": "m", "messages": [USER], "max_tokens": 5, "tool_choice": "none",
                             "parallel_tool_calls": True}, "m")
    assert request == {"model": "m", "messages": [USER], "max_tokens": 5}


def test_json_schema_response_format():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    request, _ = to_mistral({"model": "m", "messages": [USER], "response_format": {
        "type": "json_schema", "json_schema": {"name": "A", "schema": schema, "strict": True}}}, "m")
    assert request["response_format"] == {"type": "json_schema",
                                          "json_schema": {"name": "A", "schema": schema, "strict": True}}


def chunk(delta, finish=None, **extra):
    return {"id": "c1", "model": "mistral-small-latest", "choices": [{"index": 0, "delta": delta,
                                                                      "finish_reason": finish}], **extra}


def test_stream_tool_calls_get_consecutive_indexes_and_string_arguments():
    stream = StreamTranslator(None, include_usage=False)
    first = stream.chunk(chunk({"tool_calls": [{"id": "abcDEF123", "index": 0,
                                                "function": {"name": "f", "arguments": {"x": 1}}}]}))
    second = stream.chunk(chunk({"tool_calls": [{"id": "ghiJKL456", "index": 0,
                                                 "function": {"name": "g", "arguments": "{}"}}]}, "tool_calls"))
    assert first["choices"][0]["delta"]["tool_calls"] == [
        {"index": 0, "id": "call_abcDEF123", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]
    assert second["choices"][0]["delta"]["tool_calls"][0]["index"] == 1
    assert second["choices"][0]["finish_reason"] == "tool_calls"


def test_a_call_streamed_in_pieces_keeps_its_index_and_first_fragment_alone_has_the_id():
    stream = StreamTranslator(None, include_usage=False)
    stream.chunk(chunk({"tool_calls": [{"id": "abcDEF123", "index": 0,
                                        "function": {"name": "f", "arguments": '{"a"'}}]}))
    more = stream.chunk(chunk({"tool_calls": [{"id": "null", "index": 0,
                                               "function": {"name": "f", "arguments": ":1}"}}]}))
    assert more["choices"][0]["delta"]["tool_calls"] == [{"index": 0, "function": {"arguments": ":1}"}}]


def test_stream_usage_comes_last_on_its_own_when_asked_for():
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "prompt_audio_seconds": None}
    for include in (True, False):
        stream = StreamTranslator(None, include_usage=include)
        last = stream.chunk(chunk({"content": "hi"}, "stop", usage=usage))
        assert "usage" not in last and last["choices"][0]["finish_reason"] == "stop"
        assert stream.end() == ([{"id": "c1", "object": "chat.completion.chunk", "created": last["created"],
                                  "model": "mistral-small-latest", "choices": [],
                                  "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}]
                                if include else [])


@pytest.mark.parametrize("mistral, openai", [("stop", "stop"), ("length", "length"), ("model_length", "length"),
                                             ("tool_calls", "tool_calls")])
def test_finish_reasons(mistral, openai):
    assert StreamTranslator(None, False).chunk(chunk({}, mistral))["choices"][0]["finish_reason"] == openai


def test_finish_reason_error_is_a_502():
    with pytest.raises(APIError) as info:
        StreamTranslator(None, False).chunk(chunk({}, "error"))
    assert info.value.status == 502


def test_thinking_chunks_are_left_out_of_the_text():
    content = [{"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}, {"type": "text", "text": "Hi"}]
    assert StreamTranslator(None, False).chunk(chunk({"content": content}))["choices"][0]["delta"]["content"] == "Hi"


@pytest.mark.parametrize("pieces, expected", [
    (["Once upon", " a time"], " a time"),
    (["Once", " up", "on a", " time"], " a time"),
    (["Twice"], "Twice"),
    (["Once", " more"], "Once more"),
])
def test_the_echoed_prefix_is_dropped_whatever_the_pieces(pieces, expected):
    echo = EchoFilter("Once upon")
    assert "".join(echo(p) for p in pieces) == expected


def test_completion():
    response = {"id": "r1", "object": "chat.completion", "model": "mistral-small-latest", "created": 5,
                "usage": {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10},
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": "", "prefix": False,
                    "tool_calls": [{"id": "abcDEF123", "type": "function", "index": 0,
                                    "function": {"name": "f", "arguments": {"x": 1}}}]}}]}
    assert completion(response, None) == {
        "id": "r1", "object": "chat.completion", "created": 5, "model": "mistral-small-latest",
        "usage": {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10},
        "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None, "message": {
            "role": "assistant", "content": None, "refusal": None,
            "tool_calls": [{"id": "call_abcDEF123", "type": "function",
                            "function": {"name": "f", "arguments": '{"x": 1}'}}]}}]}
