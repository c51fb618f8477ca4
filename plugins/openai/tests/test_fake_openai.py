"""The fake OpenAI provider (supercompat_openai.testing): default behaviour and wire format."""

import json
import signal
import socket
import subprocess
import sys

import openai
import pytest

from supercompat_openai.testing import WORDS, FakeOpenAIProvider, Hang, Text

WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


@pytest.fixture
def client(fake):
    with openai.OpenAI(base_url=fake.base_url, api_key="k", max_retries=0) as client:
        yield client


def raw_chunks(port, body):
    """POST a chat request over a bare socket; return the status line, headers and HTTP chunks."""
    payload = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload))
        data = b""
        while part := sock.recv(65536):
            data += part
    head, rest = data.split(b"\r\n\r\n", 1)
    chunks = []
    while True:
        size, rest = rest.split(b"\r\n", 1)
        if int(size, 16) == 0:
            break
        chunks.append(rest[:int(size, 16)])
        rest = rest[int(size, 16) + 2:]
    return head.decode(), chunks


def test_default_stream_wire_format(fake):
    head, chunks = raw_chunks(fake.port, {"model": "m", "stream": True,
                                          "stream_options": {"include_usage": True},
                                          "messages": [{"role": "user", "content": "Tell me a story"}]})
    assert head.startswith("HTTP/1.1 200")
    assert "content-type: text/event-stream" in head.lower() and "transfer-encoding: chunked" in head.lower()
    assert all(c.startswith(b"data: ") and c.endswith(b"\n\n") and c.count(b"\n\n") == 1 for c in chunks)
    assert chunks[-1] == b"data: [DONE]\n\n"
    events = [json.loads(c[6:]) for c in chunks[:-1]]
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    words = [e["choices"][0]["delta"]["content"] for e in events[1:6]]
    assert words == ["alpha", " bravo", " charlie", " delta", " echo"]  # the fixture's tokens=5
    assert events[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 5
    assert events[-1]["usage"]["prompt_tokens"] == len("Tell me a story") // 4 + 1


def test_default_answer_is_twenty_nato_words():
    with FakeOpenAIProvider() as fake, openai.OpenAI(base_url=fake.base_url, api_key="k") as client:
        completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == " ".join(WORDS[:20])
    assert completion.usage.completion_tokens == 20


def test_weather_question_with_tools_calls_the_first_tool(fake, client):
    messages = [{"role": "user", "content": [{"type": "text", "text": "What's the WEATHER like?"}]}]
    tools = [WEATHER_TOOL, {"type": "function", "function": {"name": "other"}}]
    chunks = list(client.chat.completions.create(model="m", messages=messages, tools=tools, stream=True))
    calls = [c.choices[0].delta.tool_calls for c in chunks if c.choices[0].delta.tool_calls]
    assert len(calls) == 2  # a header fragment, then one arguments fragment
    assert (calls[0][0].id.startswith("call_"), calls[0][0].function.name) == (True, "get_weather")
    assert calls[1][0].id is None and calls[1][0].function.arguments == '{"location":"Paris"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    # After the tool result, or without tools, the answer is text again.
    after = messages + [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    for answer in (client.chat.completions.create(model="m", messages=after, tools=tools),
                   client.chat.completions.create(model="m", messages=messages)):
        assert answer.choices[0].finish_reason == "stop"


def test_script_is_consumed_in_order_then_default(fake, client):
    fake.script(Text("one"), Hang(0.01, then="two"), "gone")  # a str is short for Text

    def ask():
        return client.chat.completions.create(model="m", messages=[]).choices[0].message.content

    assert [ask(), ask()] == ["one", "two"]
    fake.reset()
    assert fake.requests == [] and fake.stats()["chat_requests"] == 0
    assert ask() == "alpha bravo charlie delta echo"


def test_requests_and_stats_are_recorded(fake, client):
    client.chat.completions.create(model="m", messages=[{"role": r, "content": "x"} for r in
                                                        ("system", "user", "assistant", "user", "assistant")])
    client.chat.completions.create(model="m2", messages=[{"role": "user", "content": "x"}],
                                   stream=True).close()
    client.models.retrieve("fake-model")
    assert [(r["method"], r["path"]) for r in fake.requests] == [
        ("POST", "/v1/chat/completions"), ("POST", "/v1/chat/completions"), ("GET", "/v1/models/fake-model")]
    assert fake.requests[0]["headers"]["authorization"] == "Bearer k"
    assert [b["model"] for b in fake.chat_requests] == ["m", "m2"]
    stats = fake.stats()
    assert {k: stats[k] for k in ("requests", "chat_requests", "stream_requests", "model_requests")} == {
        "requests": 3, "chat_requests": 2, "stream_requests": 1, "model_requests": 1}
    assert stats["last_message_count"] == 1 and stats["max_message_count"] == 5
    assert stats["last_roles_tail"] == ["user"]
    with client.with_options(base_url=f"http://127.0.0.1:{fake.port}") as root:
        assert root.get("/stats", cast_to=object)["max_message_count"] == 5


def test_models_and_unknown_routes(fake, client):
    assert [m.id for m in client.models.list()] == ["fake-model"]
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("gpt-nope")
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.get("/nowhere", cast_to=object)


def test_runs_as_a_script(tmp_path):
    port_file = tmp_path / "port"
    command = [sys.executable, "-m", "supercompat_openai.testing", "--port", "0", "--port-file",
               str(port_file), "--tokens", "3", "--latency-ms", "1", "--token-delay-ms", "1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            line = proc.stdout.readline().strip()
            assert line.startswith("FAKE_PROVIDER_PORT=")
            port = int(line.split("=")[1])
            assert int(port_file.read_text()) == port
            with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0) as client:
                text = client.chat.completions.create(model="m", messages=[]).choices[0].message.content
            assert text == "alpha bravo charlie"
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
