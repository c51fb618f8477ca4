"""The SDK's timeout holds in process as over a network: a read timeout raises (the SDK retries as it
would), a stream times out between chunks, and what the client gave up on ends as it does when an HTTP
client hangs up: a run goes on, a provider stream is closed."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx2
import openai
import pytest

from supercompat import async_supercompat, supercompat
from supercompat.testing import ScriptedClientAdapter

from conftest import call, collect

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it

SHORT = 0.3  # the client's read timeout in these tests
HOLD_LIMIT = 20.0  # a held provider lets go by itself after this, so nothing here can hang
# A read timeout in the middle of a body: recent SDKs raise APITimeoutError, older ones httpx2's own.
STREAM_TIMEOUT = (openai.APITimeoutError, httpx2.ReadTimeout)


class HeldProvider(ScriptedClientAdapter):
    """A provider that stops answering until ``release`` is set: before a completion, or after the first
    chunk of a stream."""

    def __init__(self) -> None:
        super().__init__()
        self.hold_before_streaming = False
        self.release = threading.Event()
        self.calls = 0
        self.closed_streams = 0
        self.finished_streams = 0

    async def _held(self) -> None:
        for _ in range(int(HOLD_LIMIT / 0.01)):
            if self.release.is_set():
                return
            await asyncio.sleep(0.01)

    async def chat_completions(self, params: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        await self._held()
        return await super().chat_completions(params)

    async def chat_completions_stream(self, params: dict[str, Any]) -> Any:
        self.calls += 1
        if self.hold_before_streaming:
            await self._held()
        try:
            first = True
            async for chunk in super().chat_completions_stream(params):
                yield chunk
                if first:
                    first = False
                    await self._held()
                if self.hold_before_streaming:
                    await asyncio.sleep(0.01)  # and then a slow stream: time enough to be closed early
            self.finished_streams += 1
        finally:
            self.closed_streams += 1


@pytest.fixture
def provider():
    held = HeldProvider()
    yield held
    held.release.set()


@pytest.fixture(params=["sync", "async"])
def make(request):
    factory = supercompat if request.param == "sync" else async_supercompat
    return lambda provider, **options: factory(client_adapter=provider, **{"max_retries": 0, **options})


async def wait_until(condition, limit=10.0):
    for _ in range(int(limit / 0.01)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_request_that_outlasts_the_read_timeout_raises(make, provider):
    client = make(provider, timeout=SHORT)
    with pytest.raises(openai.APITimeoutError):
        await call(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]))
    assert provider.calls == 1


async def test_a_per_request_timeout_is_honoured_too(make, provider):
    client = make(provider)  # the SDK's default timeout (600 s)
    with pytest.raises(openai.APITimeoutError):
        await call(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                  timeout=SHORT))
    provider.release.set()
    answer = await call(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]))
    assert answer.choices[0].message.content == "You said: hi"


async def test_the_sdk_retries_a_timed_out_request_as_over_a_network(make, provider):
    client = make(provider, timeout=SHORT, max_retries=1)
    with pytest.raises(openai.APITimeoutError):
        await call(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]))
    assert provider.calls == 2


async def test_quick_answers_are_unaffected(make, provider):
    provider.release.set()
    client = make(provider, timeout=SHORT)
    assistant = await call(client.beta.assistants.create(model="m"))
    thread = await call(client.beta.threads.create(messages=[{"role": "user", "content": "hi"}]))
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                              poll_interval_ms=10))
    assert run.status == "completed"


async def test_a_stream_times_out_between_chunks_and_the_provider_stream_is_closed(make, provider):
    client = make(provider, timeout=SHORT)
    stream = await call(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                       stream=True))
    with pytest.raises(STREAM_TIMEOUT):  # raised while reading the body, as over a network
        await collect(stream)
    assert await wait_until(lambda: provider.closed_streams == 1)  # the provider call is abandoned


async def test_a_run_goes_on_when_its_stream_times_out(make, provider):
    client = make(provider, timeout=SHORT)
    assistant = await call(client.beta.assistants.create(model="m"))
    thread = await call(client.beta.threads.create(messages=[{"role": "user", "content": "hi"}]))
    stream = await call(client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, stream=True))
    with pytest.raises(STREAM_TIMEOUT):
        await collect(stream)
    provider.release.set()
    patient = client.with_options(timeout=30)
    runs = (await call(patient.beta.threads.runs.list(thread.id))).data
    run = await call(patient.beta.threads.runs.poll(runs[0].id, thread_id=thread.id, poll_interval_ms=10))
    assert run.status == "completed"
    [answer, _] = (await call(patient.beta.threads.messages.list(thread.id))).data
    assert answer.content[0].text.value == "You said: hi"


async def test_a_stream_that_comes_after_the_client_gave_up_is_closed_at_once(make, provider):
    provider.hold_before_streaming = True
    client = make(provider, timeout=SHORT)
    with pytest.raises(openai.APITimeoutError):
        stream = await call(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                           stream=True))
        await collect(stream)
    provider.release.set()  # now the response comes, with nobody to read it
    assert await wait_until(lambda: provider.closed_streams == 1)
    assert provider.finished_streams == 0  # closed, not read to the end


async def test_create_and_poll_waits_out_a_run_longer_than_the_read_timeout(make, provider):
    """Each poll is answered within the read timeout (the hold stays inside it), so a run that takes
    longer than the timeout is still waited for, as over HTTP."""
    client = make(provider, timeout=0.6)
    assistant = await call(client.beta.assistants.create(model="m"))
    thread = await call(client.beta.threads.create(messages=[{"role": "user", "content": "hi"}]))
    releaser = threading.Timer(0.9, provider.release.set)  # the run outlasts the client's timeout
    releaser.start()
    try:
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                                  poll_interval_ms=10))
    finally:
        releaser.cancel()
    assert run.status == "completed"
