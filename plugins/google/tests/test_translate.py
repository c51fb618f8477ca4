"""Chat-completions <-> Gemini translation edge cases, on plain dicts (no SDK, no network)."""

import base64
import json

import pytest

from supercompat.errors import APIError
from supercompat_google.schema import gemini_schema
from supercompat_google.translate import Turn, to_gemini

USER = {"role": "user", "content": "Weather?"}


def calls(*pairs):
    return [{"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, (n, a) in enumerate(pairs)]


def contents(*messages, memory=None):
    return to_gemini({"model": "m", "messages": list(messages)}, memory or {})[0]


def config(**params):
    return to_gemini({"model": "m", "messages": [USER], **params}, {})[1]


def test_system_and_developer_messages_become_the_system_instruction():
    developer = {"role": "developer", "content": [{"type": "text", "text": "No emoji."}]}
    sent, cfg = to_gemini({"model": "m", "messages": [{"role": "system", "content": "Be brief."}, developer, USER]},
                          {})
    assert cfg["system_instruction"] == {"parts": [{"text": "Be brief.\n\nNo emoji."}]}
    assert sent == [{"role": "user", "parts": [{"text": "Weather?"}]}]


def test_a_conversation_of_system_messages_alone_becomes_a_user_turn():
    sent, cfg = to_gemini({"model": "m", "messages": [{"role": "system", "content": "Say hi."}]}, {})
    assert sent == [{"role": "user", "parts": [{"text": "Say hi."}]}] and "system_instruction" not in cfg
    with pytest.raises(APIError, match="at least one message"):
        to_gemini({"model": "m", "messages": []}, {})


def test_turns_alternate_and_empty_messages_are_dropped():
    sent = contents(USER, {"role": "user", "content": "In Paris."}, {"role": "assistant", "content": ""},
                    {"role": "assistant", "content": "Sunny."},
                    {"role": "assistant", "content": [{"type": "text", "text": " Mild."}]})
    assert sent == [{"role": "user", "parts": [{"text": "Weather?"}, {"text": "In Paris."}]},
                    {"role": "model", "parts": [{"text": "Sunny."}, {"text": " Mild."}]}]


def test_parallel_calls_to_one_function_are_answered_in_call_order():
    made = calls(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"}), ("get_time", {}))
    sent = contents(USER, {"role": "assistant", "content": "Checking.", "tool_calls": made},
                    {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
                    {"role": "tool", "tool_call_id": "call_1", "content": "24C"},
                    {"role": "tool", "tool_call_id": "call_0", "content": [{"type": "text", "text": "-3C"}]},
                    {"role": "user", "content": "Thanks"})
    assert sent[1] == {"role": "model", "parts": [
        {"text": "Checking."},
        {"function_call": {"name": "get_weather", "args": {"city": "Oslo"}}},
        {"function_call": {"name": "get_weather", "args": {"city": "Rome"}}},
        {"function_call": {"name": "get_time", "args": {}}}]}
    assert sent[2] == {"role": "user", "parts": [
        {"function_response": {"name": "get_weather", "response": {"result": "-3C"}}},
        {"function_response": {"name": "get_weather", "response": {"result": "24C"}}},
        {"function_response": {"name": "get_time", "response": {"result": "noon"}}},
        {"text": "Thanks"}]}


def test_gemini_call_ids_and_thought_signatures_come_back_with_their_calls():
    memory = {"call_0": {"id": "g-1", "thought_signature": b"sig"}}
    sent = contents(USER, {"role": "assistant", "tool_calls": calls(("f", {}))},
                    {"role": "tool", "tool_call_id": "call_0", "content": "ok"}, memory=memory)
    assert sent[1]["parts"] == [{"function_call": {"name": "f", "args": {}, "id": "g-1"}, "thought_signature": b"sig"}]
    assert sent[2]["parts"] == [{"function_response": {"name": "f", "response": {"result": "ok"}, "id": "g-1"}}]


@pytest.mark.parametrize("messages, message", [
    ([USER, {"role": "assistant", "tool_calls": calls(("f", {}), ("g", {}))},
      {"role": "tool", "tool_call_id": "call_0", "content": "x"}], "did not have response messages: call_1"),
    ([USER, {"role": "tool", "tool_call_id": "call_9", "content": "x"}], "must be a response to a preceding"),
    ([USER, {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                                                 "function": {"name": "f", "arguments": "[1]"}}]}], "JSON object"),
    ([{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}], "'file' can't be sent"),
])
def test_malformed_conversations_are_400s_that_say_why(messages, message):
    with pytest.raises(APIError) as info:
        contents(*messages)
    assert info.value.status == 400 and message in info.value.message


def test_images_inline_and_by_url():
    png = base64.b64encode(b"\x89PNG").decode()
    sent = contents({"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp?size=2", "detail": "low"}}]})
    assert sent[0]["parts"] == [{"text": "What is this?"},
                                {"inline_data": {"mime_type": "image/png", "data": png}},
                                {"file_data": {"file_uri": "https://example.com/cat.webp?size=2",
                                               "mime_type": "image/webp"}}]


def test_generation_config():
    cfg = config(temperature=0.2, top_p=0.5, max_tokens=10, stop="END", seed=7)
    assert {k: cfg[k] for k in ("temperature", "top_p", "max_output_tokens", "stop_sequences", "seed")} == {
        "temperature": 0.2, "top_p": 0.5, "max_output_tokens": 10, "stop_sequences": ["END"], "seed": 7}
    assert config(max_completion_tokens=5, max_tokens=10)["max_output_tokens"] == 5
    assert config(response_format={"type": "json_object"})["response_mime_type"] == "application/json"
    assert "response_mime_type" not in config(response_format={"type": "text"})
    with pytest.raises(APIError, match="n must be 1"):
        config(n=2)


@pytest.mark.parametrize("choice, expected", [
    ("auto", {"mode": "AUTO"}), ("none", {"mode": "NONE"}), ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "f"}}, {"mode": "ANY", "allowed_function_names": ["f"]}),
])
def test_tool_choice(choice, expected):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    cfg = config(tools=tools, tool_choice=choice)
    assert cfg["tool_config"] == {"function_calling_config": expected}
    assert cfg["tools"] == [{"function_declarations": [{"name": "f"}]}]  # no properties: no parameters


def test_schema_features_gemini_lacks_are_converted():
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
              "additionalProperties": False,
              "$defs": {"Unit": {"type": "string", "enum": ["C", "F"]}},
              "properties": {
                  "city": {"type": "string", "format": "hostname", "description": "City"},
                  "unit": {"$ref": "#/$defs/Unit"},
                  "days": {"type": ["integer", "null"], "exclusiveMinimum": 0},
                  "when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
                  "mode": {"const": "fast"},
                  "tags": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "number"}]},
                           "uniqueItems": True}},
              "required": ["city"]}
    assert gemini_schema(schema, "p") == {
        "type": "OBJECT", "required": ["city"],
        "properties": {
            "city": {"type": "STRING", "description": "City"},
            "unit": {"type": "STRING", "enum": ["C", "F"]},
            "days": {"type": "INTEGER", "nullable": True, "minimum": 0},
            "when": {"type": "STRING", "format": "date-time", "nullable": True},
            "mode": {"type": "STRING", "enum": ["fast"]},
            "tags": {"type": "ARRAY", "items": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]}}}}


@pytest.mark.parametrize("schema, message", [
    ({"type": "object", "properties": {"n": {"$ref": "#/$defs/N"}}, "$defs": {"N": {"type": "object", "properties": {
        "next": {"$ref": "#/$defs/N"}}}}}, "recursive $ref"),
    ({"type": "object", "properties": {"m": {"type": "object", "additionalProperties": {"type": "string"}}}},
     "map type"),
    ({"type": "object", "properties": {"n": {"type": "integer", "enum": [1, 2]}}}, "strings only"),
    ({"type": "object", "properties": {"n": {"not": {"type": "string"}}}}, "'not'"),
])
def test_schema_features_gemini_cannot_express_are_reported_by_path(schema, message):
    tools = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    with pytest.raises(APIError) as info:
        config(tools=tools)
    assert info.value.status == 400 and message in info.value.message
    assert info.value.message.startswith("tools[0].function.parameters")


def response(parts=(), finish="STOP", **extra):
    candidate = {"index": 0, **({"content": {"role": "model", "parts": list(parts)}} if parts else {})}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "responseId": "r1", **extra}


def turn(**params):
    remembered = {}
    return Turn({"model": "gpt-4.1-mini", **params}, remembered.__setitem__), remembered


@pytest.mark.parametrize("finish, expected", [
    ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
    ("PROHIBITED_CONTENT", "content_filter"), ("OTHER", "stop")])
def test_finish_reasons(finish, expected):
    completion = turn()[0].completion(response([{"text": "Hi"}], finish))
    assert completion["choices"][0]["finish_reason"] == expected


def test_a_blocked_prompt_is_a_content_filter_finish():
    completion = turn()[0].completion({"promptFeedback": {"blockReason": "SAFETY"},
                                       "usageMetadata": {"promptTokenCount": 4}})
    assert completion["choices"][0]["finish_reason"] == "content_filter"
    assert completion["choices"][0]["message"]["content"] is None


def test_a_malformed_function_call_fails_the_turn_clearly():
    with pytest.raises(APIError) as info:
        turn()[0].completion(response(finish="MALFORMED_FUNCTION_CALL"))
    assert info.value.status == 502 and "MALFORMED_FUNCTION_CALL" in info.value.message


def test_usage_counts_thinking_as_completion_tokens():
    completion = turn()[0].completion(response([{"text": "Hi"}], usageMetadata={
        "promptTokenCount": 10, "candidatesTokenCount": 3, "thoughtsTokenCount": 5, "cachedContentTokenCount": 4,
        "totalTokenCount": 18}))
    assert completion["usage"] == {"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18,
                                   "prompt_tokens_details": {"cached_tokens": 4},
                                   "completion_tokens_details": {"reasoning_tokens": 5}}


def test_calls_get_fresh_ids_and_gemini_ids_are_remembered():
    t, remembered = turn()
    parts = [{"text": "thinking", "thought": True}, {"functionCall": {"name": "f", "args": {"a": 1}, "id": "g1"},
                                                     "thoughtSignature": base64.b64encode(b"sig").decode()},
             {"functionCall": {"name": "f", "args": {"a": 2}}}]
    message = t.completion(response(parts))["choices"][0]
    assert message["finish_reason"] == "tool_calls" and message["message"]["content"] is None
    first, second = message["message"]["tool_calls"]
    assert first["id"].startswith("call_") and first["id"] != second["id"]
    assert (first["function"], second["function"]) == ({"name": "f", "arguments": '{"a": 1}'},
                                                       {"name": "f", "arguments": '{"a": 2}'})
    assert remembered == {first["id"]: {"id": "g1", "thought_signature": b"sig"}}


def test_stream_chunks_number_tool_calls_across_responses_and_end_once():
    t, _ = turn(stream_options={"include_usage": True})
    chunks = [*t.chunks(response([{"text": "Let me "}], finish=None)),
              *t.chunks(response([{"text": "check."}, {"functionCall": {"name": "f", "args": {}}}], finish=None)),
              *t.chunks(response([{"functionCall": {"name": "g", "args": {"x": "y"}}}], usageMetadata={
                  "promptTokenCount": 2, "candidatesTokenCount": 9, "totalTokenCount": 11})),
              *t.ending(include_usage=True)]
    deltas = [c["choices"][0]["delta"] for c in chunks[:-1]]
    assert deltas[:2] == [{"content": "Let me "}, {"content": "check."}]
    assert [d["tool_calls"][0]["index"] for d in deltas[2:4]] == [0, 1]
    assert deltas[3]["tool_calls"][0]["function"] == {"name": "g", "arguments": '{"x": "y"}'}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 11


def test_parallel_tool_calls_false_keeps_the_first_call():
    t, _ = turn(parallel_tool_calls=False)
    message = t.completion(response([{"functionCall": {"name": "f", "args": {}}},
                                     {"functionCall": {"name": "g", "args": {}}}]))["choices"][0]["message"]
    assert [c["function"]["name"] for c in message["tool_calls"]] == ["f"]


def test_a_stream_without_a_finish_reason_ends_without_one():
    t, _ = turn()
    list(t.chunks(response([{"text": "Hel"}], finish=None)))
    assert list(t.ending(include_usage=False)) == []
