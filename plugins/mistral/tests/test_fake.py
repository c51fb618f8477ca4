"""The fake Mistral provider (supercompat_mistral.testing): wire format, and the checks Mistral makes."""

import json
import socket

import httpx2
import pytest
from mistralai.client import Mistral

from supercompat.testing import Reply

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
CALL = {"id": "abcDEF123", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}


def raw(port, body, headers=b"Authorization: Bearer k\r\n"):
    """POST a chat request over a bare socket: the status line and headers, and the HTTP chunks."""
    payload = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s"
                     b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (headers, len(payload), payload))
        data = b""
        while part := sock.recv(65536):
            data += part
    head, rest = data.split(b"\r\n\r\n", 1)
    if b"chunked" not in head.lower():
        return head.decode(), [rest]
    chunks = []
    while True:
        size, rest = rest.split(b"\r\n", 1)
        if int(size, 16) == 0:
            return head.decode(), chunks
        chunks.append(rest[:int(size, 16)])
        rest = rest[int(size, 16) + 2:]


def test_stream_wire_format(fake):
    fake.script(Reply(text="Hi there", tool_calls=[("get_weather", {"city": "Paris"})]))
    head, chunks = raw(fake.port, {"model": "mistral-small-latest", "stream": True, "tools": TOOLS,
                                   "messages": [{"role": "user", "content": "Weather?"}]})
    assert head.startswith("HTTP/1.1 200") and "content-type: text/event-stream" in head.lower()
    assert all(c.startswith(b"data: ") and c.endswith(b"\n\n") and c.count(b"\n\n") == 1 for c in chunks)
    assert chunks[-1] == b"data: [DONE]\n\n"
    events = [json.loads(c[6:]) for c in chunks[:-1]]
    for event in events:  # the fields Mistral's SDK requires
        assert {"id", "model", "choices"} <= event.keys()
        assert all({"index", "delta", "finish_reason"} <= c.keys() for c in event["choices"])
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [e["choices"][0]["delta"].get("content") for e in events[1:3]] == ["Hi", " there"]
    last = events[-1]
    call = last["choices"][0]["delta"]["tool_calls"][0]
    assert len(call["id"]) == 9 and call["id"].isalnum()
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert last["choices"][0]["finish_reason"] == "tool_calls" and last["usage"]["total_tokens"] > 0


def test_the_sdk_reads_it_sync_and_async(fake):
    with Mistral(api_key="k", server_url=fake.server_url) as sdk:
        events = list(sdk.chat.stream(model="m", messages=[{"role": "user", "content": "hi"}]))
        assert "".join(e.data.choices[0].delta.content for e in events) == "You said: hi"
        response = sdk.chat.complete(model="m", messages=[{"role": "user", "content": "hi"}])
        assert response.choices[0].message.content == "You said: hi"


def invalid(fake, messages, **extra):
    head, (body, *_) = raw(fake.port, {"model": "m", "messages": messages, **extra})
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("messages, message", [
    ([{"role": "user", "content": "q"},
      {"role": "assistant", "content": None, "tool_calls": [{**CALL, "id": "call_1"}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "r"}],
     "Tool call id was call_1 but must be a-z, A-Z, 0-9, with a length of 9."),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "", "tool_calls": [CALL]},
      {"role": "tool", "tool_call_id": "abcDEF123", "content": "r"}, {"role": "user", "content": "q2"}],
     "Unexpected role 'user' after role 'tool'"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "", "tool_calls": [CALL]},
      {"role": "tool", "tool_call_id": "xyzXYZ789", "content": "r"}],
     "Unexpected tool call id xyzXYZ789 in tool results"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "", "tool_calls": [CALL]},
      {"role": "assistant", "content": "a"}],
     "Not the same number of function calls and responses"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
     "Expected last role User or Tool (or Assistant with prefix True) for serving but got assistant"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "prefix": True},
      {"role": "user", "content": "q"}],
     "Assistant message with prefix True must be last message"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}, {"role": "user", "content": "q"}],
     "Assistant message must have either content or tool_calls, but not none."),
], ids=["id-format", "user-after-tool", "unknown-result", "missing-result", "trailing-assistant", "early-prefix",
        "empty-assistant"])
def test_rejects_what_mistral_rejects(fake, messages, message):
    status, body = invalid(fake, messages)
    assert status == 400
    assert body == {"object": "error", "message": message, "type": "invalid_request_error", "param": None,
                    "code": None}


def test_unknown_fields_are_a_422(fake):
    status, body = invalid(fake, [{"role": "user", "content": "q", "name": "bob"}], stream_options={})
    assert status == 422
    assert [d["loc"] for d in body["message"]["detail"]] == [["body", "stream_options"],
                                                             ["body", "messages", 0, "user", "name"]]


def test_content_chunks_are_checked_as_mistral_checks_them(fake):
    status, body = invalid(fake, [{"role": "user", "content": [
        {"type": "text", "text": "q"}, {"type": "image_url", "image_url": "https://example.com/a.png"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "max", "size": 1}},
        {"type": "image", "image": "x"}]}])
    assert status == 422
    assert [(d["loc"][5:], d["type"]) for d in body["message"]["detail"]] == [
        ([3, "image_url", "image_url"], "value_error"), ([4, "image_url", "image_url", "size"], "extra_forbidden"),
        ([4, "image_url", "image_url", "detail"], "enum"), ([5], "union_tag_invalid")]


def test_tool_choice_must_name_a_tool(fake):
    status, body = invalid(fake, [{"role": "user", "content": "q"}], tools=TOOLS,
                           tool_choice={"type": "function", "function": {"name": "other"}})
    assert status == 400 and "not in tools" in body["message"]


def test_a_key_is_required(fake):
    head, _ = raw(fake.port, {"model": "m", "messages": [{"role": "user", "content": "q"}]}, headers=b"")
    assert head.startswith("HTTP/1.1 401")
    assert fake.chat_requests[-1]["messages"] == [{"role": "user", "content": "q"}]  # recorded all the same


def test_prefixed_answers_repeat_the_prefix(fake):
    fake.script(Reply(text=" a time."))
    with httpx2.Client() as http, Mistral(api_key="k", server_url=fake.server_url, client=http) as sdk:
        response = sdk.chat.complete(model="m", messages=[
            {"role": "user", "content": "story"}, {"role": "assistant", "content": "Once upon", "prefix": True}])
    assert response.choices[0].message.content == "Once upon a time."
