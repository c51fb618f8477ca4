"""A second OS process on the same database, for test_processes.py: ``python worker.py MODE URL ...``."""

import asyncio
import json
import sys
import threading
import time

from supercompat import supercompat
from supercompat.loop import run_sync
from supercompat.storage import ActiveRunError
from supercompat.testing import app_of
from supercompat.testing.storage import make_run, make_vector_store_file
from supercompat_sqlalchemy import sqlalchemy_storage_adapter


class HangingProvider:
    async def chat_completions(self, params):
        await asyncio.Event().wait()

    async def chat_completions_stream(self, params):
        yield {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": params["model"],
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Thinking"},
                            "logprobs": None, "finish_reason": None}]}
        await asyncio.Event().wait()

    async def list_models(self):
        return []


def create(url):
    client = supercompat(storage_adapter=sqlalchemy_storage_adapter(url))
    a = client.beta.assistants.create(model="m", name="made elsewhere", metadata={"pid": "worker"})
    t = client.beta.threads.create(messages=[{"role": "user", "content": "written by the worker"}])
    print(json.dumps({"assistant": a.id, "thread": t.id}))


async def race(url, thread_ids):
    storage = sqlalchemy_storage_adapter(url)
    await storage.get_thread(thread_ids[0])  # connected before the start line
    print("ready", flush=True)
    sys.stdin.readline()  # the start signal: both processes get it at the same moment
    won = []
    for thread_id in thread_ids:
        try:
            await storage.create_run(make_run(thread_id), [])
            won.append(thread_id)
        except ActiveRunError:
            pass
    await storage.close()
    print(json.dumps(won))


async def attach(url, store_id, shared_ids):
    """100 attaches at once to one store, each of a new file and one of ``shared_ids`` (which the other
    process attaches too), then each new file's ingestion ended: prints the new files' ids."""
    storage = sqlalchemy_storage_adapter(url)
    await storage.get_vector_store(store_id)  # connected before the start line
    print("ready", flush=True)
    sys.stdin.readline()
    mine = [make_vector_store_file(store_id, usage_bytes=1) for _ in range(100)]
    await asyncio.gather(*(storage.attach_files(store_id, [f, make_vector_store_file(
        store_id, shared_ids[i % len(shared_ids)], usage_bytes=1)]) for i, f in enumerate(mine)))
    ended = {"status": "completed", "usage_bytes": 3}
    await asyncio.gather(*(storage.update_vector_store_file(store_id, f["id"], ended,
                                                            expected_status=frozenset({"in_progress"}))
                           for f in mine))
    await storage.close()
    print(json.dumps([f["id"] for f in mine]))


def hang(url):
    client = supercompat(client_adapter=HangingProvider(), storage_adapter=sqlalchemy_storage_adapter(url))
    a = client.beta.assistants.create(model="m")
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id)
    while not client.beta.threads.messages.list(t.id, run_id=run.id).data:  # mid-answer
        time.sleep(0.01)
    print(json.dumps({"assistant": a.id, "thread": t.id, "run": run.id}), flush=True)
    time.sleep(600)  # until killed


JOB_KIND = "test.count"
paused = threading.Event()


async def count_steps(job, context):
    """A job handler: counts from the payload's ``done`` to ``to``, checkpointing after each step with
    the attempt that made it; on its first attempt it stops for good at ``pause_at`` (a process then
    killed mid-job)."""
    payload = context.payload
    while payload["done"] < payload["to"]:
        if payload["done"] == payload.get("pause_at") and job["attempt"] == 1:
            paused.set()
            await asyncio.Event().wait()
        payload = {**payload, "done": payload["done"] + 1, "steps_by": [*payload["steps_by"], job["attempt"]]}
        await context.checkpoint(payload)


def job(url):
    app = app_of(supercompat(storage_adapter=sqlalchemy_storage_adapter(url)))
    app.jobs.register(JOB_KIND, count_steps)
    submitted = run_sync(app.jobs.submit(JOB_KIND, {"done": 0, "to": 4, "pause_at": 2, "steps_by": []}))
    paused.wait()  # mid-job, after two checkpoints
    print(json.dumps({"job": submitted["id"]}), flush=True)
    time.sleep(600)  # until killed


class HangingEmbedder:
    """The fake embedder's model and dimensions, whose document embeddings never come back: an ingestion
    stopped mid-way, in a process then killed."""

    def __init__(self):
        from supercompat.testing.embedders import fake_embedder

        inner = fake_embedder()
        self.model, self.dimensions = inner.model, inner.dimensions
        self.embedding = threading.Event()

    async def embed(self, texts, *, kind="document"):
        self.embedding.set()
        await asyncio.Event().wait()

    async def close(self):
        pass


def ingest(url):
    embedder = HangingEmbedder()
    client = supercompat(storage_adapter=sqlalchemy_storage_adapter(url), embedder=embedder)
    file = client.files.create(file=("marmot.txt", b"The quick marmot audits seventeen ledgers."),
                               purpose="assistants")
    store = client.vector_stores.create(name="made elsewhere", file_ids=[file.id])
    embedder.embedding.wait()  # mid-ingestion: extracted and chunked, embedding
    print(json.dumps({"store": store.id, "file": file.id}), flush=True)
    time.sleep(600)  # until killed


if __name__ == "__main__":
    mode, url, *rest = sys.argv[1:]
    if mode == "create":
        create(url)
    elif mode == "race":
        asyncio.run(race(url, rest))
    elif mode == "attach":
        asyncio.run(attach(url, rest[0], rest[1:]))
    elif mode == "hang":
        hang(url)
    elif mode == "job":
        job(url)
    elif mode == "ingest":
        ingest(url)
