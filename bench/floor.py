"""The SDK floor: the openai SDK answered by a transport that returns canned bytes at once.

The bytes are captured from supercompat itself (same objects, same sizes), so the floor is what the
SDK alone costs to build each request and parse each answer: no in-process layer can go under it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai

JSON = {"content-type": "application/json"}
SSE = {"content-type": "text/event-stream; charset=utf-8"}
LONG_THREAD = "thread_long"  # the floor lists this thread to get 20 messages back


class CannedAnswers:
    """Bytes per kind of request, filled by :func:`capture`; the handler does one dict lookup."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}

    def kind(self, request: httpx2.Request) -> str:
        parts = request.url.path.split("/")  # /v1/chat/completions, /v1/threads[/id/messages|/id/runs[/id]]
        if parts[2] == "chat":
            return "chat_stream"
        if len(parts) == 3:
            return "thread"
        if parts[4] == "messages":
            if request.method == "POST":
                return "message"
            return "long_messages" if parts[3] == LONG_THREAD else "messages"
        if len(parts) == 6:
            return "run_completed"
        return "run_stream" if json.loads(request.content).get("stream") else "run_queued"

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        kind = self.kind(request)
        streamed = kind in ("run_stream", "chat_stream")
        return httpx2.Response(200, headers=SSE if streamed else JSON, content=self.bodies[kind])

    def sdk_client(self, asynchronous: bool) -> openai.OpenAI | openai.AsyncOpenAI:
        transport = httpx2.MockTransport(self.handle)
        options: dict[str, Any] = {"api_key": "floor", "base_url": "http://floor.local/v1", "max_retries": 0,
                                   "timeout": 120}
        if asynchronous:
            return openai.AsyncOpenAI(http_client=openai.DefaultAsyncHttpxClient(transport=transport), **options)
        return openai.OpenAI(http_client=openai.DefaultHttpxClient(transport=transport), **options)


def capture(client: openai.OpenAI, assistant_id: str, provider: openai.OpenAI) -> CannedAnswers:
    """One of each answer, taken from a (sync) supercompat client on a fresh store, and a streamed
    chat completion from the (sync) provider client."""
    canned = CannedAnswers()
    canned.bodies["chat_stream"] = provider.chat.completions.with_raw_response.create(
        model="fake-model", stream=True, messages=[{"role": "user", "content": "Stream please 0"}]).http_response.read()
    beta = client.beta.threads
    raw = beta.with_raw_response.create(metadata={"assistantId": assistant_id})
    canned.bodies["thread"] = raw.http_response.content
    thread_id = raw.parse().id
    canned.bodies["message"] = beta.messages.with_raw_response.create(
        thread_id, role="user", content="crud message 0").http_response.content
    canned.bodies["messages"] = beta.messages.with_raw_response.list(thread_id, limit=20).http_response.content
    for i in range(20):
        beta.messages.create(thread_id, role="user", content=f"long thread message {i}")
    canned.bodies["long_messages"] = beta.messages.with_raw_response.list(thread_id, limit=20).http_response.content
    raw = beta.runs.with_raw_response.create(thread_id=thread_id, assistant_id=assistant_id)
    canned.bodies["run_queued"] = raw.http_response.content
    run = beta.runs.poll(raw.parse().id, thread_id=thread_id, poll_interval_ms=1)
    completed = beta.runs.with_raw_response.retrieve(run.id, thread_id=thread_id)
    canned.bodies["run_completed"] = completed.http_response.content
    beta.messages.create(thread_id, role="user", content="Stream please 0")
    raw = beta.runs.with_raw_response.create(thread_id=thread_id, assistant_id=assistant_id, stream=True)
    canned.bodies["run_stream"] = raw.http_response.read()
    return canned
