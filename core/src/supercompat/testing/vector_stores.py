"""VectorStoresAPITests: the Vector Stores API (stores, their files and file batches, search) and its
SDK helpers through the real openai SDK, sync and async, over a storage, a chunk index and an
embedder.

The kit serves ``vs_app`` in process by default: an App over the ``storage_adapter`` (None: memory),
``chunk_index`` (None: the storage's default) and ``embedder`` (the deterministic fake by default; a
subclass returning None checks keyword-only search) fixtures. A subclass may serve ``vs_app`` over
HTTP by overriding ``vs_client`` (see core/tests_server/test_vector_stores.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import openai

from .. import API_KEY, BASE_URL
from ..api.params import chunking_strategy
from ..app import App
from ..errors import APIError
from ..loop import run_async, run_sync
from ..transport import SupercompatTransport
from .contract import call, collect
from .embedders import fake_embedder
from .files import error_of
from .kit import Kit, fixture, pytest
from .scripted import Reply, scripted_client_adapter

MARMOT = "The quick marmot audits seventeen ledgers at dawn."
CATS = "Cats sleep most of the day and purr when they are content."
RIVERS = "The Danube flows through ten countries before reaching the Black Sea."


def counts(**shown: int) -> dict[str, int]:
    """A ``file_counts`` object: the counts given, zero for the others, and their total."""
    every = {status: shown.get(status, 0) for status in ("in_progress", "completed", "failed", "cancelled")}
    return {**every, "total": sum(every.values())}


def app_client(app: App, kind: str) -> Any:
    """An openai SDK client answered in process by ``app``."""
    if kind.startswith("async"):
        http = openai.DefaultAsyncHttpxClient(transport=SupercompatTransport(app))
        return openai.AsyncOpenAI(api_key=API_KEY, base_url=BASE_URL, max_retries=0, http_client=http)
    return openai.OpenAI(api_key=API_KEY, base_url=BASE_URL, max_retries=0,
                         http_client=openai.DefaultHttpxClient(transport=SupercompatTransport(app)))


async def upload(client: Any, name: str, text: str | bytes) -> Any:
    data = text.encode() if isinstance(text, str) else text
    return await call(client.files.create(file=(name, data), purpose="assistants"))


WAIT_S = 60  # for what a test waits on to happen; it happens at once unless something is broken


class HeldAtCheckpoint:
    """Holds an ingestion once its chunks are indexed, where it saves its progress (the storage's
    ``update_job`` with a payload): the moment another process's detach, attach or cancel can
    overtake it. ``install`` and everything awaited run on the App's loop (``run_async``)."""

    def __init__(self, app: App) -> None:
        self.storage = app.storage
        self.update_job = app.storage.update_job
        self.reached = self.release = asyncio.Event()

    async def install(self) -> None:
        self.reached, self.release = asyncio.Event(), asyncio.Event()

        async def held(job_id: str, attempt: int, changes: dict[str, Any]) -> Any:
            if "usage_bytes" in (changes.get("payload") or {}):
                self.reached.set()
                await self.release.wait()
            return await self.update_job(job_id, attempt, changes)

        self.storage.update_job = held  # type: ignore[method-assign]

    def uninstall(self) -> None:
        self.storage.update_job = self.update_job  # type: ignore[method-assign]

    async def held_job(self, store_id: str, file_id: str) -> str:
        """Once the file's ingestion is held: its job's id."""
        await asyncio.wait_for(self.reached.wait(), WAIT_S)
        file = await self.storage.get_vector_store_file(store_id, file_id)
        assert file is not None
        return str(file["job_id"])


class VectorStoresAPITests(Kit, standard=True):
    @fixture
    def storage_adapter(self) -> Any:
        return None  # memory

    @fixture
    def chunk_index(self) -> Any:
        return None  # the storage's default

    @fixture
    def embedder(self) -> Any:
        return fake_embedder()

    @fixture
    def vs_app(self, storage_adapter: Any, chunk_index: Any, embedder: Any) -> Iterator[App]:
        app = App(storage_adapter=storage_adapter, chunk_index=chunk_index, embedder=embedder)
        yield app
        run_sync(app.aclose(grace=0))  # its jobs, then its heartbeat; the storage fixture closes the store

    @fixture(params=["sync-client", "async-client"])
    def vs_client(self, request: pytest.FixtureRequest, vs_app: App) -> Any:
        return app_client(vs_app, request.param)

    # -- stores ------------------------------------------------------------------------------------------
    async def test_create_retrieve_update_list_and_delete_stores(self, vs_client: Any) -> None:
        c = vs_client
        store = await call(c.vector_stores.create(name="docs", metadata={"team": "a"},
                                                  expires_after={"anchor": "last_active_at", "days": 7}))
        assert store.object == "vector_store" and store.id.startswith("vs_") and store.name == "docs"
        assert store.status == "completed" and store.usage_bytes == 0 and store.metadata == {"team": "a"}
        assert store.file_counts.model_dump() == counts()
        assert store.expires_after.days == 7 and store.expires_at == store.last_active_at + 7 * 86400
        assert await call(c.vector_stores.retrieve(store.id)) == store
        raw = await call(c.vector_stores.with_raw_response.retrieve(store.id))
        assert set(raw.http_response.json()) == {"id", "object", "created_at", "name", "usage_bytes",
                                                 "file_counts", "status", "last_active_at", "metadata",
                                                 "expires_after", "expires_at"}
        updated = await call(c.vector_stores.update(store.id, name="renamed", metadata={"more": "b"},
                                                    expires_after=None))
        assert updated.name == "renamed" and updated.metadata == {"team": "a", "more": "b"}
        assert updated.expires_after is None and updated.expires_at is None
        others = [await call(c.vector_stores.create(name=f"s{i}")) for i in range(3)]
        made = [store.id] + [s.id for s in others]
        assert [s.id for s in (await call(c.vector_stores.list())).data] == made[::-1]
        first = await call(c.vector_stores.list(limit=2, order="asc"))
        assert [s.id for s in first.data] == made[:2] and first.has_more is True
        assert [s.id for s in await collect(c.vector_stores.list(limit=1, order="asc"))] == made
        before = await call(c.vector_stores.list(before=made[2], order="asc"))
        assert [s.id for s in before.data] == made[:2]
        deleted = await call(c.vector_stores.delete(store.id))
        assert (deleted.id, deleted.object, deleted.deleted) == (store.id, "vector_store.deleted", True)
        with pytest.raises(openai.NotFoundError) as info:
            await call(c.vector_stores.retrieve(store.id))
        assert error_of(info)["message"] == f"No vector store found with id '{store.id}'."
        unnamed = await call(c.vector_stores.create())
        assert unnamed.name == "" and unnamed.metadata == {} and unnamed.expires_after is None

    async def test_a_store_created_with_files_ingests_them_and_counts_them(self, vs_client: Any) -> None:
        c = vs_client
        good = [await upload(c, "marmot.txt", MARMOT), await upload(c, "cats.md", f"# Cats\n\n{CATS}\n")]
        bad = await upload(c, "old.doc", b"\xd0\xcf\x11\xe0 legacy word")
        small = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 10}}
        store = await call(c.vector_stores.create(name="s", file_ids=[f.id for f in [*good, bad]],
                                                  chunking_strategy=small))
        assert store.file_counts.total == 3
        for file in [*good, bad]:
            await call(c.vector_stores.files.poll(file.id, vector_store_id=store.id))
        store = await call(c.vector_stores.retrieve(store.id))
        assert store.status == "completed" and store.usage_bytes > 0
        assert store.file_counts.model_dump() == counts(completed=2, failed=1)
        failed = await call(c.vector_stores.files.retrieve(bad.id, vector_store_id=store.id))
        assert failed.status == "failed" and failed.last_error.code == "unsupported_file"
        assert failed.usage_bytes == 0
        done = await call(c.vector_stores.files.retrieve(good[0].id, vector_store_id=store.id))
        assert done.chunking_strategy.type == "static"
        assert done.chunking_strategy.static.max_chunk_size_tokens == 100
        assert done.chunking_strategy.static.chunk_overlap_tokens == 10
        ingested = [await call(c.vector_stores.files.retrieve(f.id, vector_store_id=store.id)) for f in good]
        assert store.usage_bytes == sum(f.usage_bytes for f in ingested)

    # -- files -------------------------------------------------------------------------------------------
    async def test_files_create_and_poll_upload_and_poll_update_content_and_delete(self, vs_client: Any
                                                                                    ) -> None:
        c = vs_client
        store = await call(c.vector_stores.create(name="s"))
        file = await upload(c, "marmot.txt", MARMOT)
        attributes = {"kind": "note", "n": 3, "ok": True}
        attached = await call(c.vector_stores.files.create_and_poll(file_id=file.id, vector_store_id=store.id,
                                                                    attributes=attributes))
        assert (attached.id, attached.object) == (file.id, "vector_store.file")
        assert attached.vector_store_id == store.id
        assert attached.status == "completed" and attached.last_error is None and attached.usage_bytes > 0
        assert attached.attributes == {"kind": "note", "n": 3, "ok": True}
        assert attached.chunking_strategy.static.max_chunk_size_tokens == 800  # auto, spelled out
        assert attached.chunking_strategy.static.chunk_overlap_tokens == 400
        raw = await call(c.vector_stores.files.with_raw_response.retrieve(file.id, vector_store_id=store.id))
        assert set(raw.http_response.json()) == {"id", "object", "created_at", "usage_bytes",
                                                 "vector_store_id", "status", "last_error", "attributes",
                                                 "chunking_strategy"}
        again = await call(c.vector_stores.files.create(file_id=file.id, vector_store_id=store.id))
        assert again == attached  # attached once: the same file, not ingested again
        uploaded = await call(c.vector_stores.files.upload_and_poll(vector_store_id=store.id,
                                                                    file=("cats.md", CATS.encode())))
        assert uploaded.status == "completed"
        assert (await call(c.files.retrieve(uploaded.id))).purpose == "assistants"
        started = await call(c.vector_stores.files.upload(vector_store_id=store.id,
                                                          file=("rivers.txt", RIVERS.encode())))
        polled = await call(c.vector_stores.files.poll(started.id, vector_store_id=store.id))
        assert polled.status == "completed"
        await call(c.vector_stores.files.delete(started.id, vector_store_id=store.id))
        content = await collect(c.vector_stores.files.content(file.id, vector_store_id=store.id))
        assert [(part.type, part.text) for part in content] == [("text", MARMOT)]
        page = await call(c.vector_stores.files.with_raw_response.content(file.id, vector_store_id=store.id))
        assert page.http_response.json()["object"] == "vector_store.file_content.page"
        updated = await call(c.vector_stores.files.update(file.id, vector_store_id=store.id,
                                                          attributes={"kind": "memo"}))
        assert updated.attributes == {"kind": "memo"}
        cleared = await call(c.vector_stores.files.update(file.id, vector_store_id=store.id, attributes=None))
        assert cleared.attributes == {}
        deleted = await call(c.vector_stores.files.delete(file.id, vector_store_id=store.id))
        assert (deleted.id, deleted.object, deleted.deleted) == (file.id, "vector_store.file.deleted", True)
        assert (await call(c.files.retrieve(file.id))).id == file.id  # detached only: the File stays
        with pytest.raises(openai.NotFoundError) as info:
            await call(c.vector_stores.files.retrieve(file.id, vector_store_id=store.id))
        assert error_of(info)["message"] == f"No file found with id '{file.id}' in vector store '{store.id}'."
        store = await call(c.vector_stores.retrieve(store.id))
        assert store.file_counts.total == 1 and store.usage_bytes == uploaded.usage_bytes
        found = await call(c.vector_stores.search(store.id, query="marmot ledgers"))
        assert file.id not in [r.file_id for r in found.data]  # its chunks went with it

    async def test_list_files_pages_and_filters_by_status(self, vs_client: Any) -> None:
        c = vs_client
        store = await call(c.vector_stores.create(name="s"))
        files = [await upload(c, f"f{i}.txt", f"{MARMOT} {i}") for i in range(4)]
        bad = await upload(c, "bad.txt", b"caf\xe9 latin-1 is not utf-8")
        for file in [*files, bad]:
            await call(c.vector_stores.files.create_and_poll(file_id=file.id, vector_store_id=store.id))
        ids = [f.id for f in files] + [bad.id]
        assert [f.id for f in (await call(c.vector_stores.files.list(store.id))).data] == ids[::-1]
        first = await call(c.vector_stores.files.list(store.id, limit=2, order="asc"))
        assert [f.id for f in first.data] == ids[:2] and first.has_more is True
        every = await collect(c.vector_stores.files.list(store.id, limit=2, order="asc"))
        assert [f.id for f in every] == ids
        failed = await call(c.vector_stores.files.list(store.id, filter="failed"))
        assert [f.id for f in failed.data] == [bad.id] and failed.data[0].last_error.code == "invalid_file"
        done = await call(c.vector_stores.files.list(store.id, filter="completed", order="asc"))
        assert [f.id for f in done.data] == ids[:4]
        assert (await call(c.vector_stores.files.list(store.id, filter="cancelled"))).data == []

    # -- file batches --------------------------------------------------------------------------------------
    async def test_file_batches_by_ids_by_files_and_upload_and_poll(self, vs_client: Any) -> None:
        c = vs_client
        store = await call(c.vector_stores.create(name="s"))
        files = [await upload(c, f"f{i}.txt", f"{RIVERS} {i}") for i in range(3)]
        batch = await call(c.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id, file_ids=[f.id for f in files[:2]], attributes={"group": "one"}))
        assert batch.object == "vector_store.files_batch" and batch.id.startswith("vsfb_")
        assert batch.vector_store_id == store.id and batch.status == "completed"
        assert batch.file_counts.model_dump() == counts(completed=2)
        assert await call(c.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)) == batch
        listed = await collect(c.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id,
                                                                       order="asc"))
        assert [f.id for f in listed] == [f.id for f in files[:2]]
        assert {f.attributes["group"] for f in listed} == {"one"}
        strategy = {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 0}}
        per_file = await call(c.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id, files=[{"file_id": files[2].id, "attributes": {"group": "two"},
                                              "chunking_strategy": strategy}]))
        assert per_file.file_counts.completed == 1
        third_page = await call(c.vector_stores.file_batches.list_files(per_file.id,
                                                                        vector_store_id=store.id))
        [third] = third_page.data
        assert third.attributes == {"group": "two"}
        assert third.chunking_strategy.static.max_chunk_size_tokens == 200
        uploaded = await call(c.vector_stores.file_batches.upload_and_poll(
            store.id, files=[(f"u{i}.txt", f"{CATS} {i}".encode()) for i in range(3)], max_concurrency=2))
        assert uploaded.status == "completed" and uploaded.file_counts.completed == 3
        none_failed = await call(c.vector_stores.file_batches.list_files(
            uploaded.id, vector_store_id=store.id, filter="failed"))
        assert none_failed.data == []
        store = await call(c.vector_stores.retrieve(store.id))
        assert store.file_counts.completed == 6 and store.status == "completed"
        cancelled = await call(c.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id))
        assert cancelled == batch  # nothing was left to stop: it stays completed
        with pytest.raises(openai.NotFoundError) as info:
            await call(c.vector_stores.file_batches.retrieve("vsfb_nope", vector_store_id=store.id))
        assert "vsfb_nope" in error_of(info)["message"]

    async def test_a_batch_of_files_that_all_fail_is_failed(self, vs_client: Any) -> None:
        c = vs_client
        store = await call(c.vector_stores.create(name="s"))
        bad = [await upload(c, f"b{i}.exe", b"MZ\x90\x00") for i in range(2)]
        batch = await call(c.vector_stores.file_batches.create_and_poll(vector_store_id=store.id,
                                                                        file_ids=[f.id for f in bad]))
        assert batch.status == "failed" and batch.file_counts.failed == 2
        assert (await call(c.vector_stores.retrieve(store.id))).status == "completed"  # nothing in progress

    # -- search --------------------------------------------------------------------------------------------
    async def _searchable(self, c: Any) -> tuple[Any, dict[str, Any]]:
        store = await call(c.vector_stores.create(name="s"))
        files = {}
        made = [("marmot.txt", MARMOT, {"topic": "animals", "year": 2020, "draft": False}),
                ("cats.md", CATS, {"topic": "animals", "year": 2024, "draft": True}),
                ("rivers.txt", RIVERS, {"topic": "geography", "year": 2022})]
        for name, text, attributes in made:
            file = await upload(c, name, text)
            await call(c.vector_stores.files.create_and_poll(file_id=file.id, vector_store_id=store.id,
                                                             attributes=attributes))
            files[name] = file
        return store, files

    async def test_search_finds_the_chunk_and_shows_it(self, vs_client: Any, embedder: Any) -> None:
        c = vs_client
        store, files = await self._searchable(c)
        question = "Which river reaches the Black Sea?"
        raw = await call(c.vector_stores.with_raw_response.search(store.id, query=question))
        mode = "keyword" if embedder is None else "hybrid"
        assert raw.http_response.headers["x-supercompat-search"] == mode
        body = raw.http_response.json()
        assert body["object"] == "vector_store.search_results.page" and body["has_more"] is False
        assert body["next_page"] is None and body["search_query"] == ["Which river reaches the Black Sea?"]
        results = (await call(c.vector_stores.search(store.id, query=question))).data
        top = results[0]
        assert (top.file_id, top.filename) == (files["rivers.txt"].id, "rivers.txt")
        assert [(p.type, p.text) for p in top.content] == [("text", RIVERS)]
        assert top.attributes == {"topic": "geography", "year": 2022} and 0 < top.score <= 1
        assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
        several = (await call(c.vector_stores.search(store.id, query=["marmot ledgers", "cats purr"]))).data
        assert {files["marmot.txt"].id, files["cats.md"].id} <= {r.file_id for r in several}
        one = await call(c.vector_stores.search(store.id, query="marmot cats river", max_num_results=1))
        assert len(one.data) == 1
        ranking = {"ranker": "auto", "score_threshold": 1.0}
        strict = await call(c.vector_stores.search(store.id, query="marmot", rewrite_query=True,
                                                   ranking_options=ranking))
        assert all(r.score >= 1.0 for r in strict.data)
        assert (await call(c.vector_stores.search(store.id, query="zzzqqq nothing matches"))).data == [] \
            or embedder is not None  # with vectors something is always nearest
        searched = await call(c.vector_stores.retrieve(store.id))
        assert searched.last_active_at >= store.last_active_at

    async def test_search_filters_on_attributes(self, vs_client: Any) -> None:
        c = vs_client
        store, files = await self._searchable(c)

        async def found(filters: dict[str, Any]) -> set[str]:
            page = await call(c.vector_stores.search(store.id, query="marmot cats river danube purr ledgers",
                                                     filters=filters))
            names = {f.id: name for name, f in files.items()}
            return {names[r.file_id] for r in page.data}

        assert await found({"type": "eq", "key": "topic", "value": "animals"}) == {"marmot.txt", "cats.md"}
        assert await found({"type": "ne", "key": "topic", "value": "animals"}) == {"rivers.txt"}
        assert await found({"type": "gte", "key": "year", "value": 2022}) == {"cats.md", "rivers.txt"}
        assert await found({"type": "lt", "key": "year", "value": 2022}) == {"marmot.txt"}
        assert await found({"type": "in", "key": "year", "value": [2020, 2022]}) == {"marmot.txt",
                                                                                     "rivers.txt"}
        assert await found({"type": "nin", "key": "topic", "value": ["animals"]}) == {"rivers.txt"}
        assert await found({"type": "eq", "key": "draft", "value": True}) == {"cats.md"}
        assert await found({"type": "and", "filters": [
            {"type": "eq", "key": "topic", "value": "animals"},
            {"type": "or", "filters": [{"type": "eq", "key": "draft", "value": False},
                                       {"type": "gt", "key": "year", "value": 2030}]}]}) == {"marmot.txt"}
        assert await found({"type": "eq", "key": "missing", "value": "x"}) == set()
        assert await found({"type": "gt", "key": "topic", "value": 3}) == set()  # a string is no number

    # -- deletes -------------------------------------------------------------------------------------------
    async def test_deleting_a_file_or_a_store_removes_their_chunks(self, vs_client: Any, vs_app: App) -> None:
        c = vs_client
        store, files = await self._searchable(c)
        other = await call(c.vector_stores.create(name="other", file_ids=[files["marmot.txt"].id]))
        await call(c.vector_stores.files.poll(files["marmot.txt"].id, vector_store_id=other.id))
        await call(c.files.delete(files["marmot.txt"].id))  # from every store it is in
        for store_id in (store.id, other.id):
            with pytest.raises(openai.NotFoundError):
                await call(c.vector_stores.files.retrieve(files["marmot.txt"].id, vector_store_id=store_id))
            assert await run_async(vs_app.index.texts(store_id, files["marmot.txt"].id)) == []
            hits = await call(c.vector_stores.search(store_id, query="marmot ledgers"))
            assert files["marmot.txt"].id not in {r.file_id for r in hits.data}
        assert (await call(c.vector_stores.retrieve(other.id))).file_counts.total == 0
        assert (await call(c.vector_stores.retrieve(store.id))).file_counts.total == 2
        await call(c.vector_stores.delete(store.id))
        assert await run_async(vs_app.index.texts(store.id, files["cats.md"].id)) == []
        assert await run_async(vs_app.storage.vector_stores_of_file(files["cats.md"].id)) == []

    async def test_a_store_whose_delete_stopped_half_way_is_deleted_again_with_its_chunks(
            self, vs_app: App) -> None:
        # A regression: the store's row went first, so a process that died before forgetting its chunks
        # left them for ever (deleting again found no store).
        c = app_client(vs_app, "async")
        store = await c.vector_stores.create(name="s")
        file = await upload(c, "marmot.txt", MARMOT)
        await c.vector_stores.files.create_and_poll(file_id=file.id, vector_store_id=store.id)
        index = vs_app.index
        remove = index.remove

        async def dies_at_the_store(store_id: str, file_id: str | None = None) -> None:
            if file_id is None:
                raise RuntimeError("the process died here")
            await remove(store_id, file_id)

        async def delete_dying_then_again() -> tuple[Any, list[str]]:
            stored = await vs_app.storage.get_vector_store(store.id)
            assert stored is not None
            index.remove = dies_at_the_store  # type: ignore[method-assign]
            try:
                with pytest.raises(RuntimeError):
                    await vs_app.vector_stores.delete(stored)
            finally:
                index.remove = remove  # type: ignore[method-assign]
            again = await vs_app.storage.get_vector_store(store.id)
            if again is not None:  # what a client does after a failed delete: delete again
                assert await vs_app.vector_stores.delete(again)
            left = await vs_app.storage.get_vector_store(store.id)
            return left, await vs_app.index.texts(store.id, file.id)

        assert await run_async(delete_dying_then_again()) == (None, [])
        await c.close()

    # -- ingestion overtaken by another process -------------------------------------------------------------
    async def test_an_ingestion_overtaken_by_a_new_attachment_leaves_its_end_to_the_new_job(
            self, vs_app: App) -> None:
        # A regression: the end was conditional on the file's status alone, so a process still ingesting
        # an attachment another process had replaced (detached, attached again: a new job) ended the new
        # one, completed with the old job's chunks, before its own job ran.
        c = app_client(vs_app, "async")
        store = await c.vector_stores.create(name="s")
        file = await upload(c, "marmot.txt", MARMOT)
        hold = HeldAtCheckpoint(vs_app)
        await run_async(hold.install())
        try:
            await c.vector_stores.files.create(file_id=file.id, vector_store_id=store.id)

            async def attached_again_elsewhere() -> tuple[Any, Any]:
                old_job = await hold.held_job(store.id, file.id)
                assert await vs_app.storage.detach_vector_store_file(store.id, file.id)
                stored = await vs_app.storage.get_file(file.id)
                assert stored is not None
                auto = chunking_strategy({"type": "auto"})
                new = vs_app.vector_stores._new_file(store.id, stored, auto, None)
                [attached] = await vs_app.storage.attach_files(store.id, [new]) or []
                hold.release.set()  # the old job goes on, its cancel unseen
                await vs_app.jobs.wait(old_job)
                return attached, await vs_app.storage.get_vector_store_file(store.id, file.id)

            attached, now = await run_async(attached_again_elsewhere())
        finally:
            hold.uninstall()
        assert now == attached and now["status"] == "in_progress" and now["job_id"] != ""
        await c.close()

    async def test_chunks_indexed_by_an_ingestion_cancelled_before_its_end_are_removed(
            self, vs_app: App) -> None:
        # A regression: a job cancelled between indexing its chunks and recording its end left them,
        # when the detach that cancelled it (in another process) had removed the file's chunks before.
        c = app_client(vs_app, "async")
        store = await c.vector_stores.create(name="s")
        file = await upload(c, "marmot.txt", MARMOT)
        hold = HeldAtCheckpoint(vs_app)
        await run_async(hold.install())
        try:
            await c.vector_stores.files.create(file_id=file.id, vector_store_id=store.id)

            async def detached_elsewhere_then_cancelled() -> list[str]:
                job_id = await hold.held_job(store.id, file.id)
                assert await vs_app.index.texts(store.id, file.id) == [MARMOT]  # indexed, end not recorded
                assert await vs_app.storage.detach_vector_store_file(store.id, file.id)
                await vs_app.jobs.cancel(job_id)  # the cancel reaches the process ingesting it
                await vs_app.jobs.wait(job_id)
                return await vs_app.index.texts(store.id, file.id)

            assert await run_async(detached_elsewhere_then_cancelled()) == []
        finally:
            hold.uninstall()
        await c.close()

    async def test_search_fills_max_num_results_past_files_not_completed(self, vs_app: App) -> None:
        # A regression: the index's best max_num_results hits were cut first, then those of files not
        # completed dropped, so fewer came back though more matched.
        c = app_client(vs_app, "async")
        store = await c.vector_stores.create(name="s")
        kept: list[Any] = []
        pending: list[Any] = []
        for i in range(3):
            kept.append(await upload(c, f"kept{i}.txt", f"{MARMOT} {i}"))
            pending.append(await upload(c, f"pending{i}.txt", "marmot marmot"))  # the best hits
        for file in kept + pending:
            await c.vector_stores.files.create_and_poll(file_id=file.id, vector_store_id=store.id)
        for file in pending:  # being ingested again, say: not searchable until completed
            again = {"status": "in_progress"}
            await run_async(vs_app.storage.update_vector_store_file(store.id, file.id, again))
        found = await c.vector_stores.search(store.id, query="marmot", max_num_results=3)
        assert sorted(r.file_id for r in found.data) == sorted(f.id for f in kept)
        await c.close()

    # -- expiry --------------------------------------------------------------------------------------------
    async def test_a_store_past_expires_at_is_expired(self, vs_client: Any, vs_app: App) -> None:
        c = vs_client
        store = await call(c.vector_stores.create(name="s", expires_after={"anchor": "last_active_at",
                                                                           "days": 1}))
        a_day_ago = {"last_active_at": store.last_active_at - 86400}
        await run_async(vs_app.storage.update_vector_store(store.id, a_day_ago))
        expired = await call(c.vector_stores.retrieve(store.id))
        assert expired.status == "expired" and expired.expires_at == store.last_active_at
        with pytest.raises(openai.BadRequestError) as info:
            await call(c.vector_stores.search(store.id, query="x"))
        assert error_of(info)["code"] == "vector_store_expired"
        file = await upload(c, "a.txt", MARMOT)
        with pytest.raises(openai.BadRequestError):
            await call(c.vector_stores.files.create(file_id=file.id, vector_store_id=store.id))
        revived = await call(c.vector_stores.update(store.id, expires_after=None))
        assert revived.status == "completed"

    # -- errors --------------------------------------------------------------------------------------------
    async def test_errors_name_their_param_as_openai_does(self, vs_client: Any) -> None:
        c = vs_client
        store = await call(c.vector_stores.create(name="s"))
        file = await upload(c, "a.txt", MARMOT)

        async def refused(request: Any, param: str | None, code: str | None = None) -> dict[str, Any]:
            with pytest.raises(openai.BadRequestError) as info:
                await call(request())
            error = error_of(info)
            assert error["param"] == param, error
            if code is not None:
                assert error["code"] == code, error
            return error

        vsc = c.vector_stores
        await refused(lambda: vsc.create(file_ids=["file-nope"]), "file_ids[0]", "invalid_value")
        await refused(lambda: vsc.create(metadata={str(i): "v" for i in range(17)}), "metadata",
                      "object_above_max_properties")
        await refused(lambda: vsc.create(expires_after={"anchor": "last_active_at", "days": 366}),
                      "expires_after.days", "integer_above_max_value")
        await refused(lambda: vsc.create(expires_after={"anchor": "created_at", "days": 1}),
                      "expires_after.anchor")
        await refused(lambda: vsc.create(file_ids=[file.id], chunking_strategy={
            "type": "static", "static": {"max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0}}),
            "chunking_strategy.static.max_chunk_size_tokens")
        await refused(lambda: vsc.create(extra_body={"colour": "red"}), "colour", "unknown_parameter")
        await refused(lambda: vsc.files.create(vector_store_id=store.id, file_id="file-nope"), "file_id")
        await refused(lambda: vsc.files.create(vector_store_id=store.id, file_id=file.id,
                                               attributes={"k" * 65: "v"}), "attributes",
                      "key_above_max_length")
        await refused(lambda: vsc.files.create(vector_store_id=store.id, file_id=file.id,
                                               attributes={"k": "v" * 513}), "attributes.k",
                      "string_above_max_length")
        await refused(lambda: vsc.files.create(vector_store_id=store.id, file_id=file.id,
                                               attributes={"k": ["list"]}), "attributes.k", "invalid_type")
        await refused(lambda: vsc.files.list(store.id, filter="done"), "filter")
        await refused(lambda: vsc.files.list(store.id, limit=101), "limit")
        await refused(lambda: vsc.file_batches.create(vector_store_id=store.id, file_ids=[]), "file_ids",
                      "array_below_min_length")
        await refused(lambda: vsc.file_batches.create(vector_store_id=store.id, file_ids=[file.id],
                                                      extra_body={"files": [{"file_id": file.id}]}), "files")
        await refused(lambda: vsc.file_batches.create(vector_store_id=store.id,
                                                      files=[{"file_id": "file-nope"}]), "files[0].file_id")
        await refused(lambda: vsc.search(store.id, query="x", max_num_results=51), "max_num_results",
                      "integer_above_max_value")
        await refused(lambda: vsc.search(store.id, query="x", max_num_results=0), "max_num_results")
        await refused(lambda: vsc.search(store.id, query="x", ranking_options={"score_threshold": 1.5}),
                      "ranking_options.score_threshold")
        await refused(lambda: vsc.search(store.id, query="x",
                                         ranking_options={"ranker": "default_2024_08_21"}),
                      "ranking_options.ranker")
        await refused(lambda: vsc.search(store.id, query="x",
                                         filters={"type": "like", "key": "k", "value": "v"}),
                      "filters.type")
        await refused(lambda: vsc.search(store.id, query="x", filters={
            "type": "and", "filters": [{"type": "in", "key": "k", "value": "not a list"}]}),
            "filters.filters[0].value")
        await refused(lambda: vsc.search(store.id, query="x", extra_body={"query": 3}), "query")
        await refused(lambda: vsc.search(store.id, query=[]), "query")
        for request in (lambda: vsc.retrieve("vs_nope"), lambda: vsc.update("vs_nope", name="x"),
                        lambda: vsc.delete("vs_nope"), lambda: vsc.search("vs_nope", query="x"),
                        lambda: vsc.files.list("vs_nope"), lambda: vsc.files.create(vector_store_id="vs_nope",
                                                                                    file_id=file.id)):
            with pytest.raises(openai.NotFoundError) as info:
                await call(request())
            assert error_of(info)["message"] == "No vector store found with id 'vs_nope'."
        for request in (lambda: vsc.files.retrieve(file.id, vector_store_id=store.id),
                        lambda: vsc.files.delete(file.id, vector_store_id=store.id),
                        lambda: vsc.files.update(file.id, vector_store_id=store.id, attributes={})):
            with pytest.raises(openai.NotFoundError):
                await call(request())
        assert (await call(c.vector_stores.retrieve(store.id))).file_counts.total == 0  # nothing was attached

    # -- the stores of assistants and threads (tool_resources.file_search, attachments) ------------------
    async def test_resources_helper_makes_the_store_of_a_new_assistant_or_thread(self, vs_client: Any
                                                                                 ) -> None:
        c = vs_client
        files = [await upload(c, "marmot.txt", MARMOT), await upload(c, "cats.txt", CATS)]
        small = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 10}}
        helper = {"file_search": {"vector_stores": [{"file_ids": [f.id for f in files],
                                                     "chunking_strategy": small, "metadata": {"k": "v"}}]}}
        raw = await call(c.beta.assistants.with_raw_response.create(
            model="m", tools=[{"type": "file_search"}], tool_resources=helper))
        shown = raw.http_response.json()["tool_resources"]
        assert list(shown) == ["file_search"] and list(shown["file_search"]) == ["vector_store_ids"]
        [store_id] = shown["file_search"]["vector_store_ids"]
        assistant = await call(c.beta.assistants.retrieve(raw.http_response.json()["id"]))
        assert assistant.tool_resources.file_search.vector_store_ids == [store_id]
        for file in files:
            done = await call(c.vector_stores.files.poll(file.id, vector_store_id=store_id))
            assert done.status == "completed" and done.chunking_strategy.static.max_chunk_size_tokens == 100
        store = await call(c.vector_stores.retrieve(store_id))
        assert store.metadata == {"k": "v"} and store.file_counts.model_dump() == counts(completed=2)
        assert store.expires_after is None  # an assistant's store never expires
        [hit] = (await call(c.vector_stores.search(store_id, query="marmot ledgers", max_num_results=1))).data
        assert hit.file_id == files[0].id

        thread_raw = await call(c.beta.threads.with_raw_response.create(tool_resources={
            "file_search": {"vector_stores": [{"file_ids": [files[1].id]}]}}))
        thread_shown = thread_raw.http_response.json()["tool_resources"]["file_search"]
        [thread_store_id] = thread_shown["vector_store_ids"]
        assert "vector_stores" not in thread_shown
        thread_store = await call(c.vector_stores.retrieve(thread_store_id))
        assert thread_store_id != store_id and thread_store.file_counts.total == 1
        assert thread_store.expires_after.model_dump() == {"anchor": "last_active_at", "days": 7}
        assert thread_store.expires_at == thread_store.last_active_at + 7 * 86400
        auto = await call(c.vector_stores.files.retrieve(files[1].id, vector_store_id=thread_store_id))
        assert auto.chunking_strategy.static.max_chunk_size_tokens == 800

    async def test_resources_name_existing_stores_of_the_project_only(self, vs_client: Any,
                                                                      vs_app: App) -> None:
        c = vs_client
        mine = await call(c.vector_stores.create(name="mine"))
        theirs = await run_async(vs_app.vector_stores.create(
            project="another-project", name="theirs", description=None, metadata=None, expires_after=None,
            files={}, chunking_strategy={"type": "auto"}))
        assistant = await call(c.beta.assistants.create(
            model="m", tool_resources={"file_search": {"vector_store_ids": [mine.id]}}))
        assert assistant.tool_resources.file_search.vector_store_ids == [mine.id]
        thread = await call(c.beta.threads.create(
            tool_resources={"file_search": {"vector_store_ids": [mine.id]}}))
        assert thread.tool_resources.file_search.vector_store_ids == [mine.id]
        param = "tool_resources.file_search.vector_store_ids[0]"

        def naming(resources: dict[str, Any]) -> list[Callable[[], Any]]:
            return [lambda: c.beta.assistants.create(model="m", tool_resources=resources),
                    lambda: c.beta.assistants.update(assistant.id, tool_resources=resources),
                    lambda: c.beta.threads.create(tool_resources=resources),
                    lambda: c.beta.threads.update(thread.id, tool_resources=resources)]

        for store_id in (theirs["id"], "vs_nope"):
            for request in naming({"file_search": {"vector_store_ids": [store_id]}}):
                with pytest.raises(openai.BadRequestError) as info:
                    await call(request())
                assert error_of(info) == {"message": f"No vector store found with id '{store_id}'.",
                                          "type": "invalid_request_error", "param": param,
                                          "code": "invalid_value"}
        both = {"file_search": {"vector_store_ids": [mine.id], "vector_stores": [{"file_ids": []}]}}
        for request in naming(both)[::2]:  # the creates: updates take no vector_stores at all
            with pytest.raises(openai.BadRequestError) as info:
                await call(request())
            assert error_of(info)["param"] == "tool_resources.file_search"
        helper: dict[str, Any] = {"file_search": {"vector_stores": [{"file_ids": []}]}}
        with pytest.raises(openai.BadRequestError) as info:
            await call(c.beta.assistants.update(assistant.id, extra_body={"tool_resources": helper}))
        assert error_of(info)["code"] == "unknown_parameter"
        kept = await call(c.beta.assistants.retrieve(assistant.id))
        assert kept.tool_resources.file_search.vector_store_ids == [mine.id]
        stores = [s.id for s in await collect(c.vector_stores.list())]
        assert stores == [mine.id]  # nothing refused made a store

    async def test_attachments_for_file_search_go_to_the_threads_store(self, vs_client: Any) -> None:
        c = vs_client
        files = [await upload(c, "marmot.txt", MARMOT), await upload(c, "cats.txt", CATS),
                 await upload(c, "rivers.txt", RIVERS)]

        def attaching(*chosen: Any, tool: str = "file_search") -> dict[str, Any]:
            return {"role": "user", "content": "see attached",
                    "attachments": [{"file_id": f.id, "tools": [{"type": tool}]} for f in chosen]}

        store = await call(c.vector_stores.create(name="given"))
        given = await call(c.beta.threads.create(
            tool_resources={"file_search": {"vector_store_ids": [store.id]}}))
        await call(c.beta.threads.messages.create(given.id, **attaching(files[0])))
        await call(c.beta.threads.messages.create(given.id, **attaching(files[0], files[1])))  # again: fine
        assert (await call(c.vector_stores.retrieve(store.id))).file_counts.total == 2
        assert (await call(c.beta.threads.retrieve(given.id))).tool_resources == given.tool_resources

        bare = await call(c.beta.threads.create())
        await call(c.beta.threads.messages.create(bare.id, **attaching(files[2], tool="code_interpreter")))
        assert (await call(c.beta.threads.retrieve(bare.id))).tool_resources.file_search is None
        await call(c.beta.threads.messages.create(bare.id, **attaching(files[2])))
        [made] = (await call(c.beta.threads.retrieve(bare.id))).tool_resources.file_search.vector_store_ids
        shown = await call(c.vector_stores.retrieve(made))
        assert shown.expires_after.model_dump() == {"anchor": "last_active_at", "days": 7}
        assert shown.expires_at == shown.last_active_at + 7 * 86400
        done = await call(c.vector_stores.files.poll(files[2].id, vector_store_id=made))
        assert done.status == "completed"
        [hit] = (await call(c.vector_stores.search(made, query="Danube", max_num_results=1))).data
        assert hit.file_id == files[2].id

        created = await call(c.beta.threads.create(messages=[attaching(files[0]), attaching(files[1])]))
        [its] = created.tool_resources.file_search.vector_store_ids
        assert (await call(c.vector_stores.retrieve(its))).file_counts.total == 2
        helped = await call(c.beta.threads.create(
            messages=[attaching(files[1])],
            tool_resources={"file_search": {"vector_stores": [{"file_ids": [files[0].id]}]}}))
        [one] = helped.tool_resources.file_search.vector_store_ids
        assert (await call(c.vector_stores.retrieve(one))).file_counts.total == 2  # one store holds both

    async def test_a_message_refused_for_an_active_run_adds_nothing_to_the_threads_store(
            self, vs_client: Any, vs_app: App) -> None:
        c = vs_client
        vs_app.client = scripted_client_adapter([Reply(tool_calls=[("get_weather", {})])])
        weather = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
        assistant = await call(c.beta.assistants.create(model="m", tools=[weather]))
        thread = await call(c.beta.threads.create(messages=[{"role": "user", "content": "weather?"}]))
        run = await call(c.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id))
        assert run.status == "requires_action"
        file = await upload(c, "marmot.txt", MARMOT)
        attached = {"attachments": [{"file_id": file.id, "tools": [{"type": "file_search"}]}]}
        with pytest.raises(openai.BadRequestError):
            await call(c.beta.threads.messages.create(thread.id, role="user", content="more", **attached))
        with pytest.raises(openai.BadRequestError):
            await call(c.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                                  additional_messages=[{"role": "user", "content": "x", **attached}]))
        assert (await call(c.beta.threads.retrieve(thread.id))).tool_resources.file_search is None
        assert (await call(c.vector_stores.list())).data == []

    async def test_attachments_at_once_end_in_one_thread_store(self, vs_client: Any, vs_app: App,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
        c = vs_client
        files = [await upload(c, f"f{i}.txt", f"{MARMOT} {i}") for i in range(4)]
        thread = await call(c.beta.threads.create())
        # The worst interleaving, every time: no attachment records a store for the thread before all
        # have read it without one (the first writes wait for each other, up to a bound).
        update_thread, waiting = vs_app.storage.update_thread, list[asyncio.Event]()

        async def gathered_update(*args: Any, **kwargs: Any) -> Any:
            if len(waiting) < len(files):
                waiting.append(arrived := asyncio.Event())
                if len(waiting) == len(files):
                    for event in waiting:
                        event.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), 10)
            return await update_thread(*args, **kwargs)

        monkeypatch.setattr(vs_app.storage, "update_thread", gathered_update)

        def attach(file: Any) -> Any:
            return c.beta.threads.messages.create(thread.id, role="user", content="x", attachments=[
                {"file_id": file.id, "tools": [{"type": "file_search"}]}])

        async def one(file: Any) -> Any:
            return await call(await asyncio.to_thread(attach, file))  # the sync client blocks: a thread each

        await asyncio.gather(*(one(f) for f in files))
        resources = (await call(c.beta.threads.retrieve(thread.id))).tool_resources
        [store_id] = resources.file_search.vector_store_ids
        attached = await collect(c.vector_stores.files.list(store_id, limit=100))
        assert sorted(f.id for f in attached) == sorted(f.id for f in files)
        assert [s.id for s in await collect(c.vector_stores.list())] == [store_id]  # the losers' are gone

    async def test_a_deleted_thread_leaves_its_store_and_an_expired_one_takes_nothing(
            self, vs_client: Any, vs_app: App) -> None:
        c = vs_client
        file = await upload(c, "marmot.txt", MARMOT)
        attached = [{"file_id": file.id, "tools": [{"type": "file_search"}]}]
        thread = await call(c.beta.threads.create(messages=[{"role": "user", "content": "x",
                                                             "attachments": attached}]))
        [store_id] = thread.tool_resources.file_search.vector_store_ids
        assert (await call(c.beta.threads.delete(thread.id))).deleted is True
        kept = await call(c.vector_stores.retrieve(store_id))  # OpenAI keeps it: it expires on its own
        assert kept.file_counts.total == 1

        other = await call(c.beta.threads.create(
            tool_resources={"file_search": {"vector_store_ids": [store_id]}}))
        await run_async(vs_app.storage.update_vector_store(store_id, {"last_active_at": kept.last_active_at
                                                                      - 7 * 86400}))
        later = await upload(c, "cats.txt", CATS)
        with pytest.raises(openai.BadRequestError) as info:
            await call(c.beta.threads.messages.create(other.id, role="user", content="x", attachments=[
                {"file_id": later.id, "tools": [{"type": "file_search"}]}]))
        assert error_of(info)["code"] == "vector_store_expired"
        assert (await call(c.vector_stores.retrieve(store_id))).file_counts.total == 1

    async def test_run_stores_are_the_assistants_then_the_threads_touched(self, vs_client: Any,
                                                                          vs_app: App) -> None:
        c = vs_client
        first, second, gone = [await call(c.vector_stores.create(name=n, expires_after={
            "anchor": "last_active_at", "days": 1})) for n in ("first", "second", "gone")]
        await call(c.vector_stores.delete(gone.id))
        an_hour_ago = first.last_active_at - 3600
        for store in (first, second):
            await run_async(vs_app.storage.update_vector_store(store.id, {"last_active_at": an_hour_ago}))
        stores = vs_app.vector_stores
        found = await run_async(stores.run_stores({"file_search": {"vector_store_ids": [first.id]}},
                                                  {"file_search": {"vector_store_ids": [gone.id, second.id,
                                                                                        first.id]}}, None))
        assert [s["id"] for s in found] == [first.id, second.id]
        for store in found:
            assert store["last_active_at"] >= first.last_active_at
            shown = await call(c.vector_stores.retrieve(store["id"]))
            assert shown.last_active_at == store["last_active_at"]
        assert await run_async(stores.run_stores(None, {}, "another-project")) == []
        assert await run_async(stores.run_stores({"file_search": {"vector_store_ids": [first.id]}}, None,
                                                 "another-project")) == []
        a_day_before = {"last_active_at": an_hour_ago - 86400}
        await run_async(vs_app.storage.update_vector_store(second.id, a_day_before))
        await run_async(vs_app.storage.update_vector_store(first.id, {"last_active_at": an_hour_ago}))
        with pytest.raises(APIError) as info:
            await run_async(stores.run_stores({"file_search": {"vector_store_ids": [first.id]}},
                                              {"file_search": {"vector_store_ids": [second.id]}}, None))
        assert info.value.code == "vector_store_expired" and second.id in info.value.message
        untouched = await call(c.vector_stores.retrieve(first.id))
        assert untouched.last_active_at == an_hour_ago  # nothing is marked when the run can't search
        stale = await run_async(vs_app.storage.get_vector_store(second.id))
        assert stale is not None  # and touching it never revives it
        assert await run_async(stores.touch(stale)) == stale
        assert (await call(c.vector_stores.retrieve(second.id))).status == "expired"
