"""In-process clients under gevent's monkey patching (gunicorn -k gevent, celery -P gevent): every call
works, including a streamed run and create_and_poll, and a greenlet waiting for one lets the others run.
Each check runs in a fresh interpreter, since patching must come before everything else."""

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("gevent")

PRELUDE = """
from gevent import monkey
monkey.patch_all()

import asyncio, json, threading, time
import gevent, openai
from supercompat import supercompat
from supercompat.clients import call_in_thread, iterate_in_thread
from supercompat.testing import ScriptedClientAdapter, scripted_client_adapter


class ThreadedProvider(ScriptedClientAdapter):
    # As an adapter over a sync provider SDK: its calls and streams run in worker threads.
    async def chat_completions(self, params):
        reply = await super().chat_completions(params)
        return await call_in_thread(lambda: (time.sleep(0.01), reply)[1])

    async def chat_completions_stream(self, params):
        chunks = [chunk async for chunk in super().chat_completions_stream(params)]
        async for chunk in iterate_in_thread(lambda: iter(chunks)):
            yield chunk
"""


def run_patched(body: str) -> dict:
    script = PRELUDE + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_in_process_call_works():
    """With an async provider, and with one called in worker threads (as a sync provider SDK is)."""
    result = run_patched("""
        def everything(provider):
            client = supercompat(client_adapter=provider, max_retries=0)
            assistant = client.beta.assistants.create(model="m")
            thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
            polled = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                              poll_interval_ms=10)
            with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
                stream.until_done()
                streamed = stream.get_final_run()
            answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "yo"}])
            chunks = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "yo"}],
                                                    stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            return [polled.status, streamed.status, answer.choices[0].message.content, text]

        print(json.dumps({"async": everything(scripted_client_adapter()), "threads": everything(ThreadedProvider())}))
    """)
    expected = ["completed", "completed", "You said: yo", "You said: yo"]
    assert result == {"async": expected, "threads": expected}


def test_a_greenlet_waiting_for_an_answer_lets_the_others_run():
    result = run_patched("""
        release = threading.Event()

        class Held(ScriptedClientAdapter):
            async def chat_completions(self, params):
                for _ in range(3000):  # at most 30 s
                    if release.is_set():
                        break
                    await asyncio.sleep(0.01)
                return await super().chat_completions(params)

        client = supercompat(client_adapter=Held(), max_retries=0)
        waiting = gevent.spawn(client.chat.completions.create, model="m",
                               messages=[{"role": "user", "content": "hi"}])
        gevent.sleep(0.05)  # the greenlet is now waiting for the held answer
        others = gevent.spawn(lambda: [client.beta.assistants.create(model="m").id for _ in range(5)])
        others.join(timeout=20)  # done while the first is still waiting: its wait did not block the hub
        still_waiting = not waiting.ready()
        release.set()
        waiting.join(timeout=20)

        too_slow = supercompat(client_adapter=Held(), max_retries=0, timeout=0.2)
        release.clear()
        try:
            too_slow.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            timed_out = False
        except openai.APITimeoutError:
            timed_out = True
        release.set()
        print(json.dumps({"others": len(others.value or []), "still_waiting": still_waiting,
                          "answer": waiting.value.choices[0].message.content, "timed_out": timed_out}))
    """)
    assert result == {"others": 5, "still_waiting": True, "answer": "You said: hi", "timed_out": True}


def test_a_file_is_ingested_and_searched_and_the_process_exits():
    """Extraction runs in a worker thread that gevent doesn't turn into a greenlet of the core loop
    (asyncio's default executor did: the ingestion ended, but the process then hung at exit)."""
    result = run_patched("""
        from supercompat.testing.embedders import fake_embedder

        client = supercompat(embedder=fake_embedder(), max_retries=0)
        store = client.vector_stores.create(name="under gevent")
        file = client.vector_stores.files.upload_and_poll(vector_store_id=store.id,
                                                          file=("a.txt", b"marmots under gevent"))
        [hit] = client.vector_stores.search(store.id, query="marmots").data
        print(json.dumps([file.status, hit.filename]))
    """)
    assert result == ["completed", "a.txt"]
