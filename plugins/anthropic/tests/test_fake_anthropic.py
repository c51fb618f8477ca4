"""The fake Anthropic provider: Anthropic's exact SSE bytes, and requests refused the way Claude refuses them."""

import json
import socket

import anthropic
import pytest

from supercompat_anthropic.testing import DEFAULT_TEXT, FakeAnthropicProvider, ToolUse

HI = [{"role": "user", "content": "hi"}]


def raw(port, body, headers=b"Authorization: Bearer k\r\nanthropic-version: 2023-06-01\r\n", path=b"/v1/messages"):
    """POST over a bare socket; return the head and the de-chunked body."""
    payload = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n%s"
                     b"Content-Length: %d\r\n\r\n%s" % (path, headers, len(payload), payload))
        data = b""
        while part := sock.recv(65536):
            data += part
    head, rest = data.split(b"\r\n\r\n", 1)
    if b"chunked" not in head.lower():
        return head.decode(), rest
    body = b""
    while True:
        size, rest = rest.split(b"\r\n", 1)
        if int(size, 16) == 0:
            return head.decode(), body
        body += rest[:int(size, 16)]
        rest = rest[int(size, 16) + 2:]


def test_stream_wire_format(fake):
    fake.script(ToolUse([("get_weather", {"city": "Paris"})], text="Checking"))
    head, body = raw(fake.port, {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": HI, "stream": True})
    assert head.startswith("HTTP/1.1 200") and "content-type: text/event-stream" in head.lower()
    frames = body.decode().split("\n\n")
    assert frames[-1] == ""
    events = []
    for frame in frames[:-1]:
        event_line, data_line = frame.split("\n")
        name, data = event_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))
        assert data["type"] == name
        events.append(data)
    names = [e["type"] for e in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"] and "ping" in names
    tool_start = next(e for e in events if e["type"] == "content_block_start" and e["index"] == 1)
    assert tool_start["content_block"]["name"] == "get_weather" and tool_start["content_block"]["input"] == {}
    arguments = "".join(e["delta"]["partial_json"] for e in events
                        if e["type"] == "content_block_delta" and e["index"] == 1)
    assert json.loads(arguments) == {"city": "Paris"}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_the_sdk_stream_helper_accumulates_the_fake_stream(fake):
    fake.script(ToolUse([("get_weather", {"city": "Paris"})], text="Checking"))
    with anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0) as client:
        with client.messages.stream(model="claude-sonnet-4-6", max_tokens=100, messages=HI) as stream:
            message = stream.get_final_message()
        assert message.stop_reason == "tool_use"
        assert message.content[0].text == "Checking" and message.content[1].input == {"city": "Paris"}
        answer = client.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=HI)
        assert answer.content[0].text == DEFAULT_TEXT


def test_a_path_prefix_is_served():
    with FakeAnthropicProvider() as fake:
        head, body = raw(fake.port, {"model": "m", "max_tokens": 5, "messages": HI}, path=b"/proxy/v1/messages")
    assert head.startswith("HTTP/1.1 200") and json.loads(body)["content"][0]["text"] == DEFAULT_TEXT


@pytest.mark.parametrize("headers, status, error_type", [
    (b"anthropic-version: 2023-06-01\r\n", 401, "authentication_error"),
    (b"x-api-key: k\r\n", 400, "invalid_request_error"),
], ids=["no-key", "no-version"])
def test_headers_are_checked(fake, headers, status, error_type):
    head, body = raw(fake.port, {"model": "m", "max_tokens": 5, "messages": HI}, headers=headers)
    assert head.startswith(f"HTTP/1.1 {status}")
    error = json.loads(body)
    assert error["type"] == "error" and error["error"]["type"] == error_type and error["request_id"]


TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}


@pytest.mark.parametrize("change, message", [
    ({"max_tokens": None}, "max_tokens: Field required"),
    ({"stream_options": {}}, "stream_options: Extra inputs are not permitted"),
    ({"temperature": 1.5}, "temperature: Input should be less than or equal to 1"),
    ({"messages": []}, "at least one message is required"),
    ({"messages": [{"role": "system", "content": "x"}]}, "Input should be 'user' or 'assistant'"),
    ({"messages": HI + HI}, 'found multiple "user" roles in a row'),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]},
     "text content blocks must be non-empty"),
    ({"messages": [*HI, {"role": "assistant", "content": [TOOL_USE]}, {"role": "user", "content": "?"}]},
     "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1"),
    ({"messages": [*HI, {"role": "assistant", "content": "x"}, {"role": "user", "content": [RESULT]}]},
     "unexpected `tool_use_id` found in `tool_result` blocks: toolu_1"),
    ({"messages": [*HI, {"role": "assistant", "content": [TOOL_USE]},
                   {"role": "user", "content": [{"type": "text", "text": "a"}, RESULT]}]},
     "tool_result blocks must come before any other content"),
    ({"messages": [*HI, {"role": "assistant", "content": [{**TOOL_USE, "id": "call:1"}]}]},
     "tool_use.id: String should match pattern"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools.0.function: Extra inputs are not permitted"),
    ({"tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": "auto"},
     "tool_choice: Input tag does not match"),
    ({"tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "tool", "name": "g"}},
     "Tool 'g' not found"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {
        "type": "base64", "media_type": "image/bmp", "data": "x"}}]}]}, "media_type: Input should be"),
])
def test_malformed_requests_are_refused_like_claude_refuses_them(fake, change, message):
    body = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": HI, **change}
    body = {k: v for k, v in body.items() if v is not None}
    with anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0) as client:
        with pytest.raises(anthropic.BadRequestError) as info:
            client.post("/v1/messages", body=body, cast_to=object)
    assert info.value.type == "invalid_request_error" and message in info.value.api_message
