"""Findings of a review of the mistral adapter, each shown on the translation or through the real
mistralai SDK against the fake provider."""

import json

from supercompat_mistral.translate import StreamTranslator, completion


def chunk(delta, finish=None):
    return {"id": "c1", "model": "mistral-small-latest",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_a_call_without_arguments_sent_as_an_empty_object_has_json_arguments():
    # Mistral's arguments may come as an object; an empty one became "" in a stream (but "{}" in a
    # completion), which no tool can parse.
    call = {"id": "abcDEF123", "index": 0, "function": {"name": "get_time", "arguments": {}}}
    streamed = StreamTranslator(None, include_usage=False).chunk(chunk({"tool_calls": [call]}, "tool_calls"))
    assert json.loads(streamed["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]) == {}
    whole = completion({"id": "c1", "model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls",
                                                                "message": {"content": "", "tool_calls": [call]}}]},
                       None)
    assert json.loads(whole["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == {}
