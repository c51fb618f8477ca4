"""A client used before os.fork() works in the child and in the parent (memory storage; SQL storage
and provider clients are tested in their packages): the child gets its own loop, engine state and
worker threads."""

import sys

import pytest

from supercompat import async_supercompat, supercompat
from supercompat.clients import call_in_thread, iterate_in_thread
from supercompat.testing import ScriptedClientAdapter
from supercompat.testing.forking import in_forked_child

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no os.fork")


class ThreadedProvider(ScriptedClientAdapter):
    """As an adapter over a sync provider SDK: its calls and streams run in worker threads."""

    async def chat_completions(self, params):
        reply = await super().chat_completions(params)
        return await call_in_thread(lambda: reply)

    async def chat_completions_stream(self, params):
        chunks = [chunk async for chunk in super().chat_completions_stream(params)]
        async for chunk in iterate_in_thread(lambda: iter(chunks)):
            yield chunk


def conversation(client, assistant_id):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    polled = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id,
                                                      poll_interval_ms=10)
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant_id) as stream:
        stream.until_done()
        streamed = stream.get_final_run()
    answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "yo"}])
    return [polled.status, streamed.status, answer.choices[0].message.content]


def test_a_sync_client_used_before_fork_works_in_the_child_and_the_parent():
    client = supercompat(client_adapter=ThreadedProvider(), max_retries=0)
    assistant = client.beta.assistants.create(model="m")
    expected = ["completed", "completed", "You said: yo"]
    assert conversation(client, assistant.id) == expected  # worker threads now idle, waiting for work

    assert in_forked_child(lambda: conversation(client, assistant.id)) == expected
    assert conversation(client, assistant.id) == expected


def test_an_async_client_used_before_fork_works_in_the_child():
    import asyncio

    client = async_supercompat(client_adapter=ThreadedProvider(), max_retries=0)

    async def use():
        assistant = await client.beta.assistants.create(model="m")
        thread = await client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        run = await client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                             poll_interval_ms=10)
        return run.status

    assert asyncio.run(use()) == "completed"
    assert in_forked_child(lambda: asyncio.run(use())) == "completed"
    assert asyncio.run(use()) == "completed"
