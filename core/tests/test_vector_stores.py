"""The Vector Stores API in process: the VectorStoresAPITests kit over memory, with the fake embedder and
without one (keyword-only search), and what needs the App's insides: ingestion of every supported
format, files that fail, a batch cancelled mid-way, counts exact under 200 concurrent attaches, the
bound on concurrent ingestions, held polls, the store's recorded embedder."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import openai
import pytest
from test_ingest_text import docx_bytes, pdf_bytes, pptx_bytes

from supercompat import App
from supercompat.api.params import chunking_strategy
from supercompat.jobs import MAX_ATTEMPTS
from supercompat.loop import run_async, run_sync
from supercompat.storage import ListQuery, memory_storage_adapter
from supercompat.testing import VectorStoresAPITests
from supercompat.testing.embedders import fake_embedder
from supercompat.testing.storage import make_job
from supercompat.testing.vector_stores import MARMOT, app_client, upload
from supercompat.vector_stores import INGEST_CONCURRENCY, INGEST_JOB

pytestmark = pytest.mark.sdk


class TestVectorStoresInProcess(VectorStoresAPITests):
    pass


class TestVectorStoresKeywordOnly(VectorStoresAPITests):
    @pytest.fixture
    def embedder(self):
        return None


class GatedEmbedder:
    """The fake embedder, whose embed() of documents waits until ``gate`` is set (but for the first
    ``free`` calls); counts the calls running at once."""

    def __init__(self) -> None:
        self.inner = fake_embedder()
        self.model, self.dimensions = self.inner.model, self.inner.dimensions
        self.gate = asyncio.Event()  # of the core loop: set it with run_async
        self.running = self.most = self.calls = self.free = 0
        self.fail = False

    async def embed(self, texts, *, kind="document"):
        self.calls += 1
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if kind == "document" and self.calls > self.free:
                await self.gate.wait()
            if self.fail:
                raise RuntimeError("the embedding service at https://embed.internal/v1 is down")
            return await self.inner.embed(texts, kind=kind)
        finally:
            self.running -= 1

    async def close(self) -> None:
        pass


async def open_gate(embedder: GatedEmbedder) -> None:
    async def set_it():
        embedder.gate.set()

    await run_async(set_it())


@pytest.fixture
def gated():
    embedder = GatedEmbedder()
    app = App(embedder=embedder)
    client = app_client(app, "sync")
    yield app, client, embedder
    run_sync(app.aclose(grace=0))  # what the gate still holds is stopped


# -- formats -------------------------------------------------------------------------------------------------
FORMATS = [
    ("notes.txt", MARMOT.encode()), ("readme.md", f"# Title\n\n{MARMOT}\n".encode()),
    ("main.py", f"# {MARMOT}\nprint('hi')\n".encode()), ("app.ts", f"// {MARMOT}\n".encode()),
    ("page.html", f"<html><body><p>{MARMOT}</p><script>x()</script></body></html>".encode()),
    ("notes-utf16.txt", MARMOT.encode("utf-16")),
    ("report.pdf", pdf_bytes(MARMOT)), ("report.docx", docx_bytes(MARMOT)), ("deck.pptx", pptx_bytes(MARMOT)),
]


@pytest.mark.parametrize("name, data", FORMATS, ids=[name for name, _ in FORMATS])
def test_each_supported_format_is_ingested_and_found(name, data):
    client = app_client(App(embedder=fake_embedder()), "sync")
    store = client.vector_stores.create(name="formats")
    file = client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=(name, data))
    assert file.status == "completed", file.last_error
    parts = client.vector_stores.files.content(file.id, vector_store_id=store.id)
    text = " ".join(part.text for part in parts)
    assert MARMOT in text and "<p>" not in text and "x()" not in text
    [hit] = client.vector_stores.search(store.id, query="marmot audits ledgers").data
    assert (hit.file_id, hit.filename) == (file.id, name)


@pytest.mark.parametrize("name, data, code", [
    ("old.doc", b"\xd0\xcf\x11\xe0", "unsupported_file"), ("tool.exe", b"MZ", "unsupported_file"),
    ("latin.txt", "café".encode("latin-1"), "invalid_file"),
    ("broken.pdf", b"%PDF-1.4 not really", "invalid_file"),
    ("broken.docx", b"PK not a zip", "invalid_file"),
])
def test_a_file_that_cannot_be_read_fails_with_its_code_and_never_sticks(name, data, code):
    client = app_client(App(), "sync")
    store = client.vector_stores.create(name="s")
    file = client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=(name, data))
    assert file.status == "failed" and file.last_error.code == code and file.last_error.message
    assert client.vector_stores.retrieve(store.id).status == "completed"


def test_an_unexpected_error_fails_the_file_with_server_error_redacted(gated):
    app, client, embedder = gated
    embedder.fail = True
    asyncio.run(open_gate(embedder))
    store = client.vector_stores.create(name="s")
    file = client.vector_stores.files.upload_and_poll(vector_store_id=store.id,
                                                      file=("a.txt", MARMOT.encode()))
    assert file.status == "failed" and file.last_error.code == "server_error"
    assert "is down" in file.last_error.message and "embed.internal" not in file.last_error.message
    assert client.vector_stores.retrieve(store.id).status == "completed"


# -- batches, counts, concurrency ---------------------------------------------------------------------------
def test_a_batch_cancelled_mid_way_cancels_its_files_and_their_jobs(gated):
    """Three files ingested, four being embedded, three waiting their turn: the cancel stops the
    seven, and the embeddings that end after it don't undo it."""
    app, client, embedder = gated
    embedder.free = 3
    store = client.vector_stores.create(name="s")
    files = [client.files.create(file=(f"f{i}.txt", f"{MARMOT} {i}".encode()), purpose="assistants")
             for i in range(10)]
    batch = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[f.id for f in files])
    assert batch.status == "in_progress" and batch.file_counts.total == 10

    async def mid_way():
        for _ in range(1000):
            batch = await app.storage.get_file_batch(store.id, batch_id)
            if batch["file_counts"]["completed"] == 3 and embedder.running == INGEST_CONCURRENCY:
                return batch
            await asyncio.sleep(0.01)
        raise AssertionError("the batch never got mid-way")

    batch_id = batch.id
    run_sync(mid_way())
    cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status == "cancelled" and cancelled.file_counts.model_dump() == {
        "in_progress": 0, "completed": 3, "failed": 0, "cancelled": 7, "total": 10}
    asyncio.run(open_gate(embedder))  # the gated embeddings may now end: they must not undo the cancel
    polled = client.vector_stores.file_batches.poll(batch.id, vector_store_id=store.id)
    assert polled.status == "cancelled" and polled.file_counts == cancelled.file_counts
    batch_files = client.vector_stores.file_batches
    listed = batch_files.list_files(batch.id, vector_store_id=store.id, filter="cancelled")
    assert len(listed.data) == 7
    store = client.vector_stores.retrieve(store.id)
    assert store.status == "completed" and store.file_counts.cancelled == 7
    done = batch_files.list_files(batch.id, vector_store_id=store.id, filter="completed")
    assert store.usage_bytes == sum(f.usage_bytes for f in done.data) > 0
    found = client.vector_stores.search(store.id, query="marmot", max_num_results=50).data
    assert {r.file_id for r in found} == {f.id for f in done.data}  # nothing cancelled is searchable

    async def jobs_ended():
        for _ in range(200):
            if not app.jobs._running:
                break
            await asyncio.sleep(0.01)
        files = (await app.storage.list_vector_store_files(store.id, ListQuery(limit=100))).data
        return [await app.storage.get_job(f["job_id"]) for f in files]

    jobs = run_sync(jobs_ended())
    assert sorted(job["status"] for job in jobs) == ["cancelled"] * 7 + ["completed"] * 3
    assert {job["kind"] for job in jobs} == {INGEST_JOB}


async def test_file_counts_are_exact_after_200_concurrent_attaches():
    app = App(embedder=fake_embedder())
    client = app_client(app, "async")
    store = await client.vector_stores.create(name="s")
    files = await asyncio.gather(*(upload(client, f"f{i}.txt", f"{MARMOT} number {i}") for i in range(200)))
    attached = await asyncio.gather(*(
        client.vector_stores.files.create(vector_store_id=store.id, file_id=f.id) for f in files))
    assert len({f.id for f in attached}) == 200
    counts = (await client.vector_stores.retrieve(store.id)).file_counts
    assert counts.total == 200 and counts.in_progress + counts.completed == 200
    done = await asyncio.gather(*(
        client.vector_stores.files.poll(f.id, vector_store_id=store.id) for f in files))
    assert {f.status for f in done} == {"completed"}
    store = await client.vector_stores.retrieve(store.id)
    assert store.file_counts.model_dump() == {"in_progress": 0, "completed": 200, "failed": 0, "cancelled": 0,
                                              "total": 200}
    assert store.usage_bytes == sum(f.usage_bytes for f in done)
    await client.close()
    await run_async(app.aclose(grace=0))


def test_at_most_four_files_are_ingested_at_once_per_process(gated):
    app, client, embedder = gated
    store = client.vector_stores.create(name="s")
    files = [client.files.create(file=(f"f{i}.txt", f"{MARMOT} {i}".encode()), purpose="assistants")
             for i in range(12)]
    batch = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[f.id for f in files])

    async def settle():  # every job started: those past the bound wait for a turn
        for _ in range(500):
            if embedder.running == INGEST_CONCURRENCY:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)

    run_sync(settle())
    assert embedder.running == INGEST_CONCURRENCY and len(app.jobs._running) == 12
    asyncio.run(open_gate(embedder))
    done = client.vector_stores.file_batches.poll(batch.id, vector_store_id=store.id)
    assert done.file_counts.completed == 12 and embedder.most == INGEST_CONCURRENCY


# -- polls ------------------------------------------------------------------------------------------------
def test_a_poll_helper_get_is_held_until_the_file_is_done(gated):
    """One GET carrying X-Stainless-Poll-Helper comes back completed, though the file was still in
    progress when it arrived: the server held it. Plain GETs are answered at once."""
    app, client, embedder = gated
    store = client.vector_stores.create(name="s")
    file = client.files.create(file=("a.txt", MARMOT.encode()), purpose="assistants")
    client.vector_stores.files.create(vector_store_id=store.id, file_id=file.id)
    assert client.vector_stores.files.retrieve(file.id, vector_store_id=store.id).status == "in_progress"
    timer = threading.Timer(0.3, lambda: asyncio.run(open_gate(embedder)))
    timer.start()
    raw = client.vector_stores.files.with_raw_response.retrieve(
        file.id, vector_store_id=store.id, extra_headers={"X-Stainless-Poll-Helper": "true"})
    timer.join()
    assert raw.parse().status == "completed" and raw.headers["openai-poll-after-ms"] == "1"
    batch = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[file.id])
    held = client.vector_stores.file_batches.with_raw_response.retrieve(
        batch.id, vector_store_id=store.id, extra_headers={"X-Stainless-Poll-Helper": "true"})
    assert held.headers["openai-poll-after-ms"] == "1"
    store_poll = client.vector_stores.with_raw_response.retrieve(store.id, extra_headers={
        "X-Stainless-Poll-Helper": "true"})
    assert store_poll.parse().status == "completed" and store_poll.headers["openai-poll-after-ms"] == "1"


# -- embedders --------------------------------------------------------------------------------------------
def test_a_store_records_its_embedder_and_is_searched_by_keyword_once_the_app_has_another(caplog):
    app = App(embedder=fake_embedder(256))
    client = app_client(app, "sync")
    store = client.vector_stores.create(name="s")
    client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=("a.txt", MARMOT.encode()))
    stored = run_sync(app.storage.get_vector_store(store.id))
    assert stored["embedder"] == {"model": "supercompat-hashing-256", "dimensions": 256}
    raw = client.vector_stores.with_raw_response.search(store.id, query="marmot")
    assert raw.headers["x-supercompat-search"] == "hybrid"
    app.embedder = fake_embedder(128)  # the configuration changed: these vectors are of another model
    with caplog.at_level(logging.WARNING, logger="supercompat"):
        for _ in range(3):
            raw = client.vector_stores.with_raw_response.search(store.id, query="marmot")
            assert raw.headers["x-supercompat-search"] == "keyword"
            assert [r.filename for r in raw.parse().data] == ["a.txt"]
    assert sum("keyword-only" in r.getMessage() for r in caplog.records) == 1  # once per App


def test_without_an_embedder_search_is_keyword_only_and_warns_once(caplog):
    client = app_client(App(), "sync")
    store = client.vector_stores.create(name="s")
    client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=("a.txt", MARMOT.encode()))
    with caplog.at_level(logging.WARNING, logger="supercompat"):
        for _ in range(2):
            raw = client.vector_stores.with_raw_response.search(store.id, query="marmot")
            assert raw.headers["x-supercompat-search"] == "keyword"
    warnings = [r.getMessage() for r in caplog.records if "keyword-only" in r.getMessage()]
    assert len(warnings) == 1 and "no embedder" in warnings[0]
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve("vs_missing")


async def test_ingestion_resumed_after_its_checkpoint_only_records_the_end():
    """A job taken over after the chunks were indexed (its payload says so) doesn't index again."""
    embedder = GatedEmbedder()
    app = App(embedder=embedder)
    client = app_client(app, "async")
    store = await client.vector_stores.create(name="s")
    file = await upload(client, "a.txt", MARMOT)

    async def attach_with_an_indexed_payload():
        [attached] = await app.storage.attach_files(store.id, [app.vector_stores._new_file(
            store.id, await app.storage.get_file(file.id), {"type": "static", "static": {
                "max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}, None)])
        job = await app.jobs.submit(INGEST_JOB, {"store_id": store.id, "file_id": file.id, "usage_bytes": 42},
                                    job_id=attached["job_id"])
        return await app.jobs.wait(job["id"])

    job = await run_async(attach_with_an_indexed_payload())
    assert job["status"] == "completed" and embedder.calls == 0
    done = await client.vector_stores.files.retrieve(file.id, vector_store_id=store.id)
    assert done.status == "completed" and done.usage_bytes == 42
    await client.close()
    await run_async(app.aclose(grace=0))


async def test_files_attached_as_the_app_closes_are_refused_instead_of_sticking():
    app = App()
    client = app_client(app, "async")
    store = await client.vector_stores.create(name="s")
    file = await upload(client, "a.txt", MARMOT)
    app.closing = True  # as App.aclose sets it first: no job can start any more

    async def attach():
        with pytest.raises(Exception, match="shutting down"):
            stored = await app.storage.get_file(file.id)
            await app.vector_stores.attach(store.id, [(stored, None, chunking_strategy({"type": "auto"}))])
        return await app.storage.get_vector_store_file(store.id, file.id)

    assert await run_async(attach()) is None  # refused before anything was attached: nothing to stick
    app.closing = False
    assert (await client.vector_stores.retrieve(store.id)).status == "completed"
    await client.close()
    await run_async(app.aclose(grace=0))


async def test_several_stores_are_searched_together_each_file_filtered_where_it_is():
    """What a run's file_search does (the assistant's store and the thread's): one file in both
    stores, its attributes different in each; a filter keeps only the store where they match."""
    app = App(embedder=fake_embedder())
    client = app_client(app, "async")
    file = await upload(client, "a.txt", MARMOT)
    other = await upload(client, "b.txt", "Marmots whistle to warn their colony.")
    stores = [await client.vector_stores.create(name=name) for name in ("assistant", "thread")]
    for store, kind in zip(stores, ("manual", "note"), strict=True):
        await client.vector_stores.files.create_and_poll(file_id=file.id, vector_store_id=store.id,
                                                         attributes={"kind": kind})
    await client.vector_stores.files.create_and_poll(file_id=other.id, vector_store_id=stores[1].id)

    async def search(filters):
        stored = [await app.storage.get_vector_store(s.id) for s in stores]
        return await app.vector_stores.search(stored, ["marmot"], limit=10, score_threshold=0,
                                              filters=filters)

    results, hybrid = await run_async(search(None))
    assert hybrid and sorted(r["file_id"] for r in results) == sorted([file.id, file.id, other.id])
    results, _ = await run_async(search({"type": "eq", "key": "kind", "value": "note"}))
    assert [(r["file_id"], r["attributes"]) for r in results] == [(file.id, {"kind": "note"})]
    await client.close()
    await run_async(app.aclose(grace=0))


def test_a_file_whose_ingestion_kept_killing_its_processes_fails_instead_of_sticking():
    """Its job comes back to a survivor once more than MAX_ATTEMPTS times: given up, the file fails."""
    storage = memory_storage_adapter()
    first = App(storage_adapter=storage)
    client = app_client(first, "sync")
    store = client.vector_stores.create(name="s")
    file = client.files.create(file=("huge.pdf", b"%PDF"), purpose="assistants")

    async def attached_by_a_dead_process():
        stored = await storage.get_file(file.id)
        [attached] = await storage.attach_files(store.id, [first.vector_stores._new_file(
            store.id, stored, chunking_strategy({"type": "auto"}), None)])
        await storage.create_job(make_job(INGEST_JOB, {"store_id": store.id, "file_id": file.id},
                                          id=attached["job_id"], attempt=MAX_ATTEMPTS))  # claimed: one more

    run_sync(attached_by_a_dead_process())
    time.sleep(0.3)  # its lease lapses
    survivor = App(storage_adapter=storage)
    engine = survivor.engine
    engine.heartbeat_interval, engine.sweep_interval, engine.orphan_after = 0.05, 0.05, 0.2

    async def watch():
        engine.watch()

    run_sync(watch())
    ended = app_client(survivor, "sync").vector_stores.files.poll(file.id, vector_store_id=store.id)
    assert ended.status == "failed" and ended.last_error.code == "server_error"
    assert "stopped, 3 times" in ended.last_error.message
    run_sync(survivor.aclose(grace=0))
    run_sync(first.aclose(grace=0))


@pytest.mark.parametrize("how", ["create", "attach", "batch"])
def test_files_of_a_process_that_died_right_after_storing_them_are_ingested_by_another(how):
    """The ingestion jobs are stored before the files: a process that dies once the files are stored
    leaves jobs whose leases lapse, and a survivor ingests the files (a regression: the jobs used to be
    stored after the files, so such files stayed in progress for ever)."""
    storage = memory_storage_adapter()
    dying = App(storage_adapter=storage, embedder=fake_embedder())
    client = app_client(dying, "sync")
    file = client.files.create(file=("marmot.txt", MARMOT), purpose="assistants")
    store = client.vector_stores.create(name="s")

    def dies_once_stored(write):
        async def stored_then_died(*args, **kwargs):
            await write(*args, **kwargs)
            dying.jobs._start = lambda job, handler: None  # nothing more runs in this process
            raise RuntimeError("the process died here")
        return stored_then_died

    storage.attach_files = dies_once_stored(storage.attach_files)
    storage.create_vector_store = dies_once_stored(storage.create_vector_store)
    with pytest.raises(openai.InternalServerError):
        if how == "create":
            client.vector_stores.create(name="s", file_ids=[file.id])
        elif how == "attach":
            client.vector_stores.files.create(vector_store_id=store.id, file_id=file.id)
        else:
            client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[file.id])
    del storage.attach_files, storage.create_vector_store
    if how == "create":  # the store the dying request made
        [store] = [s for s in client.vector_stores.list().data if s.id != store.id]
    assert client.vector_stores.files.retrieve(file.id, vector_store_id=store.id).status == "in_progress"
    time.sleep(0.3)  # the jobs' leases lapse
    survivor = App(storage_adapter=storage, blob_store=dying.blobs, embedder=fake_embedder())
    engine = survivor.engine
    engine.heartbeat_interval, engine.sweep_interval, engine.orphan_after = 0.05, 0.05, 0.2

    async def watch():
        engine.watch()

    run_sync(watch())
    survived = app_client(survivor, "sync")
    deadline = time.monotonic() + 30
    while (done := survived.vector_stores.files.retrieve(file.id, vector_store_id=store.id)).status == "in_progress":
        assert time.monotonic() < deadline, "nobody ingested the dead process's file"
        time.sleep(0.05)
    assert done.status == "completed" and done.usage_bytes > 0
    [hit] = survived.vector_stores.search(store.id, query="marmot").data
    assert hit.file_id == file.id
    run_sync(survivor.aclose(grace=0))
    run_sync(dying.aclose(grace=0))


class RefusesBlankText:
    """The fake embedder, refusing empty or blank texts as OpenAI's embeddings do."""

    def __init__(self) -> None:
        self.inner = fake_embedder()
        self.model, self.dimensions = self.inner.model, self.inner.dimensions

    async def embed(self, texts, *, kind="document"):
        if any(not text.strip() for text in texts):
            raise ValueError("'$.input' is invalid: an input is empty")
        return await self.inner.embed(texts, kind=kind)

    async def close(self):
        pass


def test_a_blank_query_is_searched_by_words_alone_not_embedded():
    """A regression: a blank query was embedded, and an embedder that refuses empty input made the
    search a 500."""
    app = App(embedder=RefusesBlankText())
    client = app_client(app, "sync")
    file = client.files.create(file=("marmot.txt", MARMOT), purpose="assistants")
    store = client.vector_stores.create(name="s", file_ids=[file.id])
    assert client.vector_stores.files.poll(file.id, vector_store_id=store.id).status == "completed"
    assert client.vector_stores.search(store.id, query="").data == []
    [hit] = client.vector_stores.search(store.id, query=["  ", "marmot ledgers"]).data
    assert hit.file_id == file.id
    run_sync(app.aclose(grace=0))


def test_a_storage_error_while_saving_progress_fails_the_file_instead_of_leaving_it_in_progress():
    """A regression: only errors while indexing failed the file; one saving the job's progress ended
    the job and left the file (and its store) in progress for ever."""
    storage = memory_storage_adapter()
    app = App(storage_adapter=storage, embedder=fake_embedder())
    client = app_client(app, "sync")
    file = client.files.create(file=("marmot.txt", MARMOT), purpose="assistants")
    store = client.vector_stores.create(name="s")
    update_job = storage.update_job

    async def fails_on_progress(job_id, attempt, changes):
        if "payload" in changes:
            raise RuntimeError("the database went away for a moment")
        return await update_job(job_id, attempt, changes)

    storage.update_job = fails_on_progress
    client.vector_stores.files.create(file_id=file.id, vector_store_id=store.id)
    deadline = time.monotonic() + 30
    while (ended := client.vector_stores.files.retrieve(file.id, vector_store_id=store.id)).status == "in_progress":
        assert time.monotonic() < deadline, "the file stayed in progress after its job ended"
        time.sleep(0.05)
    assert ended.status == "failed" and ended.last_error.code == "server_error"
    assert client.vector_stores.retrieve(store.id).status == "completed"
    run_sync(app.aclose(grace=0))
