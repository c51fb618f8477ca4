"""The fake Gemini (supercompat_google.testing): Gemini's exact stream bytes, both API versions, and
the requests it refuses the way the real API does."""

import json
import socket

import pytest

from supercompat_google.testing import FakeGeminiProvider, FunctionCalls, Text

CONTENTS = [{"role": "user", "parts": [{"text": "Hi"}]}]


def post(fake, path, body, key="k"):
    """A request over a bare socket: the status line and the raw body (chunked transfer decoded)."""
    payload = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
    if key:
        head += f"x-goog-api-key: {key}\r\n"
    with socket.create_connection(("127.0.0.1", fake.port)) as sock:
        sock.sendall(head.encode() + b"Content-Length: %d\r\n\r\n" % len(payload) + payload)
        data = b""
        while part := sock.recv(65536):
            data += part
    status, rest = data.split(b"\r\n", 1)
    headers, body = rest.split(b"\r\n\r\n", 1)
    if b"chunked" in headers.lower():
        out = b""
        while True:
            size, body = body.split(b"\r\n", 1)
            if int(size, 16) == 0:
                return status.decode(), out
            out, body = out + body[:int(size, 16)], body[int(size, 16) + 2:]
    return status.decode(), body


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_streams_data_lines_only(fake, version):
    fake.script(Text("Hello there", chunks=["Hel", "lo there"]))
    status, body = post(fake, f"/{version}/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
                        {"contents": CONTENTS})
    assert status == "HTTP/1.1 200 OK"
    frames = body.split(b"\r\n\r\n")
    assert frames[-1] == b"" and all(f.startswith(b"data: {") for f in frames[:-1])  # no event:, no [DONE]
    events = [json.loads(f[6:]) for f in frames[:-1]]
    assert [e["candidates"][0]["content"]["parts"] for e in events] == [[{"text": "Hel"}], [{"text": "lo there"}]]
    assert "finishReason" not in events[0]["candidates"][0] and events[1]["candidates"][0]["finishReason"] == "STOP"
    assert events[1]["usageMetadata"]["candidatesTokenCount"] == 2


def test_function_calls_arrive_whole_in_one_event(fake):
    fake.script(FunctionCalls([("f", {"a": 1}), ("f", {"a": 2})]))
    _, body = post(fake, "/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse", {"contents": CONTENTS})
    (event,) = [json.loads(f[6:]) for f in body.split(b"\r\n\r\n") if f]
    assert event["candidates"][0]["content"]["parts"] == [{"functionCall": {"name": "f", "args": {"a": 1}}},
                                                          {"functionCall": {"name": "f", "args": {"a": 2}}}]
    assert event["candidates"][0]["finishReason"] == "STOP"


def refusal(fake, body, key="k", path="/v1/models/gemini-2.5-flash:generateContent"):
    status, raw = post(fake, path, body, key)
    error = json.loads(raw)["error"]
    assert set(error) == {"code", "message", "status"} or "details" in error
    return status, error


@pytest.mark.parametrize("body, message", [
    ({"contents": CONTENTS, "temperature": 1}, 'Unknown name "temperature"'),
    ({"contents": []}, "contents is not specified"),
    ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
    ({"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
    ({"contents": CONTENTS, "tools": [{"functionDeclarations": [{"name": "f", "parameters": {
        "type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "additionalProperties": False}}]}]},
     'Unknown name "additionalProperties"'),
    ({"contents": CONTENTS, "tools": [{"functionDeclarations": [{"name": "f", "parameters": {
        "type": "OBJECT", "properties": {}}}]}]}, "should be non-empty for OBJECT type"),
    ({"contents": [*CONTENTS, {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}},
                                                          {"functionCall": {"name": "f", "args": {}}}]},
                   {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
     "number of function response parts is equal to the number of function call parts"),
    ({"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}]},
     "function call turn comes immediately after a user turn"),
    ({"contents": CONTENTS, "generationConfig": {"responseSchema": {"type": "OBJECT"}}}, "response_mime_type"),
    ({"contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "a$b"}}]}]},
     "Base64 decoding failed"),
])
def test_refuses_what_gemini_refuses_in_its_envelope(fake, body, message):
    status, error = refusal(fake, body)
    assert status.startswith("HTTP/1.1 400") and error["status"] == "INVALID_ARGUMENT" and error["code"] == 400
    assert message in error["message"]


@pytest.mark.parametrize("data", ["iVBO+8Dk/ns=", "iVBO-8Dk_ns=", "iVBO-8Dk_ns"])
def test_inline_data_in_either_base64_alphabet_is_taken(fake, data):
    status, _ = post(fake, "/v1/models/gemini-2.5-flash:generateContent", {"contents": [
        {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": data}}]}]})
    assert status.startswith("HTTP/1.1 200")


def test_keys_and_models(fake):
    status, error = refusal(fake, {"contents": CONTENTS}, key=None)
    assert status.startswith("HTTP/1.1 403") and error["status"] == "PERMISSION_DENIED"
    status, error = refusal(fake, {"contents": CONTENTS}, path="/v1beta/models/nope:generateContent")
    assert status.startswith("HTTP/1.1 404") and "models/nope is not found" in error["message"]
    with FakeGeminiProvider(api_key="right") as strict:
        status, error = refusal(strict, {"contents": CONTENTS}, key="wrong")
        assert status.startswith("HTTP/1.1 400") and error["details"][0]["reason"] == "API_KEY_INVALID"
