"""Vector stores: the one place for their domain logic. Creating stores, attaching files and their
ingestion (a job per file, on the lease mechanism of ``supercompat.jobs``), detaching, deleting,
searching (filters over file ``attributes`` included) and the objects the API shows, whose statuses
are derived here on every read.

Ingestion of one file: its bytes are read from the blob store to a temporary file, their text
extracted (``supercompat.ingest``), cut into chunks by the file's chunking strategy, embedded in
batches when the store has an embedder that is still the App's, and added to the App's chunk index;
the job checkpoints once the chunks are indexed, so a process that takes over the job after a crash
only records the end. The end is written only if the file is still ``in_progress`` and still the
job's (not detached and attached again since, with a job of its own): a cancel wins. A job that ends
or stops without its file wanting its chunks (detached, cancelled or failed meanwhile) removes them,
so none are left behind whichever process saw the cancel first.
At most :data:`INGEST_CONCURRENCY` files are read and embedded at once per process; the other jobs
wait their turn (their leases kept), so a batch of 2,000 files doesn't start 2,000 extractions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import ids, ingest
from ._threads import call_in_thread
from .blobs import reading
from .errors import InvalidRequest, NotFound, ServerError, redacted
from .jobs import JobContext, LeaseLost
from .loop import finish
from .search import Hit, IndexedChunk, SearchQuery
from .storage import ListQuery, Obj, StaleStatusError

T = TypeVar("T")

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("supercompat")

INGEST_JOB = "vector_store.ingest"
INGEST_CONCURRENCY = 4  # files read, extracted and embedded at once in one process
EMBED_BATCH = 64  # chunks per call to the embedder
DAY = 86_400
IN_PROGRESS = frozenset({"in_progress"})
# What OpenAI gives the stores its thread helpers make (a thread's vector_stores, message attachments).
THREAD_STORE_EXPIRY: Obj = {"anchor": "last_active_at", "days": 7}
THREAD_STORE_ATTEMPTS = 8  # reads of a thread whose tool_resources keep changing under an attachment
WANTS_CHUNKS = frozenset({"in_progress", "completed"})  # a file of another status has none indexed
FILTER_PAGE = 1000  # files read at a time when a search's filters are evaluated
# How deep a search asks the index at most when hits of files not searchable (not completed, or
# filtered out in the store they were found in) leave fewer than the results asked for.
SEARCH_DEPTH = 1000

STORE_FIELDS = ("id", "object", "created_at", "name", "usage_bytes", "file_counts", "status",
                "last_active_at", "metadata", "expires_after", "expires_at")
FILE_FIELDS = ("id", "object", "created_at", "usage_bytes", "vector_store_id", "status", "last_error",
               "attributes", "chunking_strategy")
BATCH_FIELDS = ("id", "object", "created_at", "vector_store_id", "status", "file_counts")


# -- what the API shows --------------------------------------------------------------------------------
def expires_at(store: Obj) -> int | None:
    """``last_active_at + days * 86400`` for a store with ``expires_after``, else None."""
    after = store.get("expires_after")
    if not after or store.get("last_active_at") is None:
        return None
    return int(store["last_active_at"]) + int(after["days"]) * DAY


def expired(store: Obj, now: float | None = None) -> bool:
    deadline = expires_at(store)
    return deadline is not None and (time.time() if now is None else now) >= deadline


def public_store(store: Obj) -> Obj:
    """A stored vector store as the API shows it (``openai.types.VectorStore``), its status derived:
    ``expired`` past ``expires_at``, else ``in_progress`` while a file is, else ``completed``."""
    shown = {k: store.get(k) for k in STORE_FIELDS}
    shown["object"] = "vector_store"
    shown["expires_at"] = expires_at(store)
    if expired(store):
        shown["status"] = "expired"
    elif store["file_counts"]["in_progress"] > 0:
        shown["status"] = "in_progress"
    else:
        shown["status"] = "completed"
    return shown


def public_file(file: Obj) -> Obj:
    """A vector store file as the API shows it (``openai.types.vector_stores.VectorStoreFile``)."""
    return {k: file.get(k) for k in FILE_FIELDS}


def batch_status(batch: Obj) -> str:
    """``cancelled`` once cancelled; ``in_progress`` while a file is; then ``failed`` if every file
    failed (nothing of the batch is searchable), else ``completed``."""
    counts = batch["file_counts"]
    if batch.get("status") == "cancelled":
        return "cancelled"
    if counts["in_progress"] > 0:
        return "in_progress"
    if counts["total"] and counts["failed"] == counts["total"]:
        return "failed"
    return "completed"


def public_batch(batch: Obj) -> Obj:
    """A file batch as the API shows it (``openai.types.vector_stores.VectorStoreFileBatch``)."""
    shown = {k: batch.get(k) for k in BATCH_FIELDS}
    shown["status"] = batch_status(batch)
    return shown


def store_not_found(store_id: str) -> NotFound:
    return NotFound.object("vector store", store_id)


def file_not_found(store_id: str, file_id: str) -> NotFound:
    return NotFound(f"No file found with id '{file_id}' in vector store '{store_id}'.")


def batch_not_found(store_id: str, batch_id: str) -> NotFound:
    return NotFound(f"No file batch found with id '{batch_id}' in vector store '{store_id}'.")


def embedder_of(app: App) -> Obj | None:
    """What a store built now records as its embedder (its hidden ``embedder`` key)."""
    if app.embedder is None:
        return None
    return {"model": app.embedder.model, "dimensions": app.embedder.dimensions}


def uses_app_embedder(app: App, store: Obj) -> bool:
    """Whether the store's vectors came from the App's embedder (same model and dimensions): only then
    are its chunks embedded and its searches given a vector."""
    recorded = store.get("embedder")
    return recorded is not None and recorded == embedder_of(app)


def store_ids(resources: Obj | None) -> list[str]:
    """The ``file_search.vector_store_ids`` of ``tool_resources``."""
    return list(((resources or {}).get("file_search") or {}).get("vector_store_ids") or [])


def auto_strategy() -> Obj:
    """The ``auto`` chunking strategy as a file shows it."""
    return {"type": "static", "static": {"max_chunk_size_tokens": ingest.AUTO_MAX_CHUNK_SIZE_TOKENS,
                                         "chunk_overlap_tokens": ingest.AUTO_CHUNK_OVERLAP_TOKENS}}


# -- the service -----------------------------------------------------------------------------------------
class VectorStores:
    """The vector stores of one App (``app.vector_stores``): its ingestion job kind, the per-process
    bound on concurrent ingestions, and what wakes held polls."""

    def __init__(self, app: App) -> None:
        self._app = weakref.ref(app)
        app.jobs.register(INGEST_JOB, self._ingest, given_up=self._given_up)
        self._start_afresh()

    @property
    def app(self) -> App:
        app = self._app()
        assert app is not None
        return app

    def _start_afresh(self) -> None:
        self._limit: asyncio.Semaphore | None = None  # made on the loop that first ingests
        self._changed: dict[str, asyncio.Future[None]] = {}  # store id -> resolved at its next change
        self.warned_keyword_only = False

    def after_fork(self) -> None:
        """In a forked child: what was bound to the parent's loop is dropped."""
        self._start_afresh()

    # -- change notification (held polls) --------------------------------------------------------
    def notify(self, store_id: str) -> None:
        """A file of the store changed status in this process: wake the polls held on it."""
        future = self._changed.pop(store_id, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def wait_for_change(self, store_id: str, timeout: float) -> None:
        """Until a file of the store changes status here, or ``timeout`` (then the caller re-reads
        storage, where another process's changes show)."""
        future = self._changed.get(store_id)
        if future is None or future.done():
            future = self._changed[store_id] = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), timeout)

    # -- stores ---------------------------------------------------------------------------------------
    async def create(self, *, project: str | None, name: str | None, description: str | None,
                     metadata: dict[str, str] | None, expires_after: Obj | None, files: dict[str, Obj],
                     chunking_strategy: Obj) -> Obj:
        """Store a new vector store, ``files`` (Files by id, as storage keeps them) attached and their
        ingestion started."""
        app = self.app
        now = int(time.time())
        store: Obj = {"id": ids.new_id("vs"), "object": "vector_store", "created_at": now, "name": name or "",
                      "description": description, "usage_bytes": 0, "file_counts": None,
                      "status": "completed", "last_active_at": now, "metadata": metadata or {},
                      "expires_after": expires_after, "expires_at": None, "project": project,
                      "embedder": embedder_of(app)}
        attached = [self._new_file(store["id"], file, chunking_strategy, None) for file in files.values()]
        created = await self._ingesting(store["id"], attached,
                                        lambda: app.storage.create_vector_store(store, attached))
        return await app.storage.get_vector_store(store["id"]) or created

    async def delete(self, store: Obj) -> bool:
        """Delete the store, its attachments and batches, stop its ingestions and forget its chunks.
        The chunks go first: a process that dies half-way leaves the store, so deleting it again
        finishes the job, never chunks no store owns. They are removed again once the store is gone,
        for what an ingestion may have added meanwhile (one that ends later removes its own)."""
        app = self.app
        in_progress = await self._all_files(store["id"], status="in_progress")
        for file in in_progress:
            await self._cancel_job(file)
        await app.index.remove(store["id"])
        if not await app.storage.delete_vector_store(store["id"]):
            return False
        await app.index.remove(store["id"])
        self.notify(store["id"])
        return True

    async def touch(self, store: Obj) -> Obj:
        """Mark the store active now (a search, a run): ``expires_at`` moves on with ``last_active_at``.
        At most one write a second per store: a store marked this second (or later, by a process whose
        clock is ahead) is left as it is; so is an expired one (only a new ``expires_after`` revives it)."""
        now = int(time.time())
        if (store.get("last_active_at") or 0) >= now or expired(store, now):
            return store
        return await self.app.storage.update_vector_store(store["id"], {"last_active_at": now}) or store

    # -- the stores of assistants, threads and runs ------------------------------------------------
    async def run_stores(self, assistant_resources: Obj | None, thread_resources: Obj | None,
                         project: str | None) -> list[Obj]:
        """The stores a run's file_search searches: the assistant's ``vector_store_ids``, then the
        thread's (each once), as storage keeps them and marked active now. A store deleted since it was
        named, or another project's (``project``: the thread's), is skipped; an expired one fails the
        run (InvalidRequest ``vector_store_expired``, naming it), checked before any is marked."""
        app = self.app
        stores = []
        for store_id in dict.fromkeys(store_ids(assistant_resources) + store_ids(thread_resources)):
            store = await app.storage.get_vector_store(store_id)
            if store is not None and store.get("project") == project:
                refuse_if_expired(store)
                stores.append(store)
        return [await self.touch(store) for store in stores]

    async def add_to_thread(self, thread_id: str, files: list[Obj], project: str | None) -> Obj:
        """Add ``files`` (Files as storage keeps them: those of a message's ``file_search``
        attachments) to the thread's vector store, chunked ``auto``. A thread without one (or whose
        store was deleted) is given a new one, expiring :data:`THREAD_STORE_EXPIRY` after it was last
        active, recorded in its ``tool_resources``. Returns the store.

        Two messages may attach at once to a thread without a store: each makes an empty store and
        records it with a compare-and-set of the thread's ``tool_resources``; the one that finds them
        changed deletes its store (empty, nothing to ingest) and adds to the store recorded first."""
        app = self.app
        specs: list[tuple[Obj, Obj | None, Obj]] = [(file, None, auto_strategy()) for file in files]
        for _ in range(THREAD_STORE_ATTEMPTS):
            thread = await app.storage.get_thread(thread_id)
            if thread is None:
                raise NotFound.object("thread", thread_id)
            named = store_ids(thread.get("tool_resources"))
            store = await app.storage.get_vector_store(named[0]) if named else None
            if store is None:
                store = await self._give_thread_store(thread, project)
                if store is None:
                    continue  # another request gave it one first: add to that one
            refuse_if_expired(store)
            try:
                await self.attach(store["id"], specs)
            except NotFound:
                continue  # deleted meanwhile: the thread gets another
            return store
        raise ServerError(f"Could not add the files to the vector store of thread '{thread_id}': its "
                          f"tool_resources kept changing. Try again.")

    async def _give_thread_store(self, thread: Obj, project: str | None) -> Obj | None:
        """A new empty store, recorded as the thread's if its ``tool_resources`` are still as read;
        None (the store deleted again) if they changed meanwhile."""
        app = self.app
        store = await self.create(project=project, name=None, description=None, metadata=None,
                                  expires_after=dict(THREAD_STORE_EXPIRY), files={},
                                  chunking_strategy=auto_strategy())
        current = thread.get("tool_resources")
        resources = {**(current or {}), "file_search": {"vector_store_ids": [store["id"]]}}
        try:
            updated = await app.storage.update_thread(thread["id"], {"tool_resources": resources},
                                                      expected={"tool_resources": current})
        except StaleStatusError:
            updated = None
        if updated is None:  # changed, or deleted (then the next read says so)
            await self.delete(store)
            return None
        return store

    # -- files ----------------------------------------------------------------------------------------
    def _new_file(self, store_id: str, file: Obj, chunking_strategy: Obj, attributes: Obj | None,
                  batch_id: str | None = None) -> Obj:
        """A vector store file for ``file`` (a File as storage keeps it), with the id of the job that
        will ingest it: recorded before the job starts, so a cancel always finds it."""
        return {"id": file["id"], "object": "vector_store.file", "created_at": int(time.time()),
                "usage_bytes": 0, "vector_store_id": store_id, "status": "in_progress", "last_error": None,
                "attributes": attributes or {}, "chunking_strategy": chunking_strategy,
                "filename": file.get("filename") or file["id"], "batch_id": batch_id,
                "job_id": ids.new_id("job")}

    async def attach(self, store_id: str, specs: list[tuple[Obj, Obj | None, Obj]], *,
                     batch: bool = False) -> tuple[list[Obj], Obj | None]:
        """Attach files (``(File, attributes, chunking strategy)``, the File as storage keeps it) to the
        store, as one batch if ``batch``, and start the ingestion of those not attached before. Returns
        the files as stored and the batch."""
        app = self.app
        batch_obj: Obj | None = None
        if batch:
            batch_obj = {"id": ids.new_id("vsfb"), "object": "vector_store.files_batch",
                         "created_at": int(time.time()), "vector_store_id": store_id, "status": "in_progress",
                         "file_counts": None}
        files, seen = [], set()
        for file, attributes, strategy in specs:
            if file["id"] not in seen:
                seen.add(file["id"])
                files.append(self._new_file(store_id, file, strategy, attributes,
                                            batch_obj["id"] if batch_obj else None))
        stored = await self._ingesting(store_id, files,
                                       lambda: app.storage.attach_files(store_id, files, batch=batch_obj))
        if stored is None:
            raise store_not_found(store_id)
        self.notify(store_id)
        if batch_obj is not None:
            batch_obj = await app.storage.get_file_batch(store_id, batch_obj["id"]) or batch_obj
        return stored, batch_obj

    async def _ingesting(self, store_id: str, files: list[Obj], attach: Callable[[], Awaitable[T]]) -> T:
        """``attach()`` (which stores ``files``), with the jobs that ingest them stored first: if this
        process dies once the files are stored, another process claims the jobs and ingests them. A
        job whose file was not stored, or was attached before with a job of its own, ends doing nothing."""
        app = self.app
        jobs = [await app.jobs.create(INGEST_JOB, {"store_id": store_id, "file_id": file["id"]},
                                      job_id=file["job_id"]) for file in files]
        try:
            return await attach()
        finally:
            for job in jobs:
                app.jobs.start(job)

    async def _cancel_job(self, file: Obj) -> None:
        if file.get("job_id"):
            await self.app.jobs.cancel(file["job_id"])

    async def detach(self, store_id: str, file_id: str) -> bool:
        """Remove a file from a store: its ingestion stopped, its chunks forgotten (the File stays)."""
        app = self.app
        file = await app.storage.get_vector_store_file(store_id, file_id)
        if file is None or not await app.storage.detach_vector_store_file(store_id, file_id):
            return False
        if file["status"] == "in_progress":
            await self._cancel_job(file)
        await app.index.remove(store_id, file_id)
        self.notify(store_id)
        return True

    async def detach_everywhere(self, file_id: str) -> None:
        """A File was deleted: detach it from every store it was in."""
        for store_id in await self.app.storage.vector_stores_of_file(file_id):
            await self.detach(store_id, file_id)

    async def cancel_batch(self, store_id: str, batch_id: str) -> Obj | None:
        """Cancel a batch: its files still in progress become ``cancelled`` and their jobs stop."""
        app = self.app
        batch = await app.storage.cancel_file_batch(store_id, batch_id)
        if batch is None:
            return None
        # Read after the cancel: a file that ended just before it keeps its status and its chunks.
        for file in await self._all_files(store_id, status="cancelled", batch_id=batch_id):
            await self._cancel_job(file)
            await app.index.remove(store_id, file["id"])
        self.notify(store_id)
        return batch

    async def _all_files(self, store_id: str, *, status: str | None = None,
                         batch_id: str | None = None) -> list[Obj]:
        files: list[Obj] = []
        after = None
        while True:
            page = await self.app.storage.list_vector_store_files(
                store_id, ListQuery(limit=FILTER_PAGE, order="asc", after=after), status=status,
                batch_id=batch_id)
            files += page.data
            if not page.has_more or not page.data:
                return files
            after = page.data[-1]["id"]

    # -- ingestion -------------------------------------------------------------------------------------
    def _semaphore(self) -> asyncio.Semaphore:
        if self._limit is None:
            self._limit = asyncio.Semaphore(INGEST_CONCURRENCY)
        return self._limit

    async def _ingest(self, job: Obj, context: JobContext) -> None:
        """The job of one file: index it, then record its end (see the module's docstring). Whatever
        fails on the way (a storage error reading the file or saving progress included) ends the file
        failed, so that no file stays in progress once its job has ended."""
        store_id, file_id = job["payload"]["store_id"], job["payload"]["file_id"]
        try:
            changes = await self._indexed(job, context)
        except (asyncio.CancelledError, LeaseLost):
            # Stopped, perhaps with its chunks indexed: they go unless the file still wants them (a
            # shutdown or a takeover leaves it in progress, for the job's next attempt).
            await finish(self._forget_stopped(store_id, file_id))
            raise
        except Exception as err:
            log.exception("supercompat: ingestion of %s into %s failed", file_id, store_id)
            changes = {"status": "failed", "last_error": {
                "code": "server_error",
                "message": f"The file could not be processed: {redacted(str(err)) or type(err).__name__}"}}
        if changes is not None:
            await self._record_end(store_id, file_id, job["id"], changes)

    async def _indexed(self, job: Obj, context: JobContext) -> Obj | None:
        """The end to record for the job's file (None: nothing to record)."""
        app = self.app
        store_id, file_id = job["payload"]["store_id"], job["payload"]["file_id"]
        file = await app.storage.get_vector_store_file(store_id, file_id)
        store = await app.storage.get_vector_store(store_id)
        if file is None or store is None or file["status"] != "in_progress" or file.get("job_id") != job["id"]:
            return None  # detached, deleted, cancelled, ended by an earlier attempt, or never attached by this job
        if "usage_bytes" in job["payload"]:  # indexed by an attempt that died before recording the end
            return {"status": "completed", "usage_bytes": job["payload"]["usage_bytes"], "last_error": None}
        async with self._semaphore():
            try:
                usage_bytes = await self._index_file(store, file)
            except ingest.IngestError as err:
                return {"status": "failed", "last_error": {"code": err.code, "message": str(err)}}
        await context.checkpoint({**job["payload"], "usage_bytes": usage_bytes})
        return {"status": "completed", "usage_bytes": usage_bytes, "last_error": None}

    async def _given_up(self, job: Obj) -> None:
        """The file's ingestion brought down every process that tried it (a file that exhausts memory,
        say): it fails, rather than staying in progress with no job left to end it."""
        message = (f"The file could not be processed: the processes ingesting it stopped, "
                   f"{job['attempt'] - 1} times.")
        await self._record_end(job["payload"]["store_id"], job["payload"]["file_id"], job["id"], {
            "status": "failed", "last_error": {"code": "server_error", "message": message}})

    async def _record_end(self, store_id: str, file_id: str, job_id: str, changes: Obj) -> None:
        """Write the end of the job's file, if the file is still in progress and still this job's."""
        app = self.app
        try:
            ended = await app.storage.update_vector_store_file(store_id, file_id, changes,
                                                               expected_status=IN_PROGRESS,
                                                               expected_job=job_id)
        except StaleStatusError as stale:  # cancelled, or attached again with a job of its own, meanwhile
            ended = stale.current
        await self._forget_unwanted(store_id, file_id, ended)
        self.notify(store_id)

    async def _forget_unwanted(self, store_id: str, file_id: str, file: Obj | None) -> None:
        """Remove the file's chunks unless ``file`` (the attachment as stored; None: detached, or its
        store deleted) wants them: completed, or in progress (its job replaces them)."""
        if file is None or file["status"] not in WANTS_CHUNKS:
            await self.app.index.remove(store_id, file_id)

    async def _forget_stopped(self, store_id: str, file_id: str) -> None:
        try:
            file = await self.app.storage.get_vector_store_file(store_id, file_id)
            await self._forget_unwanted(store_id, file_id, file)
        except Exception:
            log.exception("supercompat: could not remove the chunks of %s in %s after its ingestion stopped",
                          file_id, store_id)

    async def _index_file(self, store: Obj, file: Obj) -> int:
        """Read, extract, chunk, embed and index one file; its usage in bytes (its chunks' text and
        vectors)."""
        app = self.app
        fd, path = tempfile.mkstemp(prefix="supercompat-ingest-")
        try:
            with os.fdopen(fd, "wb") as handle:
                async with reading(app.blobs, file["id"]) as pieces:
                    async for piece in pieces:
                        await call_in_thread(handle.write, piece)
            text = await ingest.extract_file(file.get("filename"), path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        strategy = (file.get("chunking_strategy") or {}).get("static") or {}
        chunks = await call_in_thread(
            ingest.chunk, text, strategy.get("max_chunk_size_tokens", ingest.AUTO_MAX_CHUNK_SIZE_TOKENS),
            strategy.get("chunk_overlap_tokens", ingest.AUTO_CHUNK_OVERLAP_TOKENS))
        vectors: list[list[float] | None] = [None] * len(chunks)
        if app.embedder is not None and uses_app_embedder(app, store):
            for start in range(0, len(chunks), EMBED_BATCH):
                batch = [c.text for c in chunks[start:start + EMBED_BATCH]]
                vectors[start:start + len(batch)] = await app.embedder.embed(batch, kind="document")
        indexed = [IndexedChunk(seq, c.text, c.tokens, vectors[seq]) for seq, c in enumerate(chunks)]
        await app.index.remove(store["id"], file["id"])  # what an earlier attempt may have left
        await app.index.add(store["id"], file["id"], indexed)
        vector_bytes = sum(4 * len(v) for v in vectors if v is not None)
        return sum(len(c.text.encode("utf-8")) for c in indexed) + vector_bytes

    # -- search ----------------------------------------------------------------------------------------
    async def search(self, stores: list[Obj], queries: list[str], *, limit: int, score_threshold: float,
                     filters: Obj | None) -> tuple[list[Obj], bool]:
        """The best chunks of ``stores`` (searched together: the API searches one, a run's file_search
        the assistant's and the thread's) for ``queries`` (each searched, the best score of a chunk
        kept), as ``VectorStoreSearchResponse`` dicts; and whether search used vectors (False: keyword
        only, for want of an embedder or because no store's is the App's any more)."""
        app = self.app
        hybrid = any([self.hybrid(store) for store in stores])  # each store checked: the warning names any
        allowed: frozenset[str] | None = None
        shown: dict[tuple[str, str], Obj] = {}  # (store id, file id) -> the file, once read
        if filters is not None:
            for store in stores:
                for file in await self._all_files(store["id"], status="completed"):
                    if matches(filters, file.get("attributes") or {}):
                        shown[(store["id"], file["id"])] = file
            if not shown:
                return [], hybrid
            allowed = frozenset(file_id for _, file_id in shown)
        vectors: list[list[float] | None] = [None] * len(queries)
        # A blank query has no meaning to embed (OpenAI's embeddings refuse empty input): words alone.
        meant = [i for i, text in enumerate(queries) if text.strip()]
        if hybrid and app.embedder is not None and meant:
            embedded = await app.embedder.embed([queries[i] for i in meant], kind="query")
            for i, embedding in zip(meant, embedded, strict=True):
                vectors[i] = embedding
        store_ids = tuple(store["id"] for store in stores)
        results: list[Obj] = []
        unsearchable: set[tuple[str, str]] = set()  # files detached or not completed, as read
        depth = limit
        while True:
            hits, exhausted = await self._best_hits(store_ids, queries, vectors, depth, allowed)
            results, passed_over = await self._shown_hits(hits, limit, score_threshold, filters is not None,
                                                          shown, unsearchable)
            # Hits of files not (or no longer) searchable take places: ask the index for more of them.
            if len(results) == limit or not passed_over or exhausted or depth >= SEARCH_DEPTH:
                return results, hybrid
            depth = min(depth * 4, SEARCH_DEPTH)

    async def _best_hits(self, store_ids: tuple[str, ...], queries: list[str],
                         vectors: list[list[float] | None], depth: int,
                         allowed: frozenset[str] | None) -> tuple[list[Hit], bool]:
        """Each query's best ``depth`` hits, a chunk's best score kept, best first; and whether the
        index had no more for any query."""
        best: dict[tuple[str, str, int], Hit] = {}
        exhausted = True
        for text, vector in zip(queries, vectors, strict=True):
            found = await self.app.index.search(SearchQuery(store_ids, text, vector, depth, allowed))
            exhausted = exhausted and len(found) < depth
            for hit in found:
                key = (hit.store_id, hit.file_id, hit.seq)
                if key not in best or hit.score > best[key].score:
                    best[key] = hit
        return sorted(best.values(), key=lambda h: -h.score), exhausted

    async def _shown_hits(self, hits: list[Hit], limit: int, score_threshold: float, filtered: bool,
                          shown: dict[tuple[str, str], Obj],
                          unsearchable: set[tuple[str, str]]) -> tuple[list[Obj], int]:
        """The first ``limit`` hits at or above ``score_threshold`` whose file is searchable, as the API
        shows them; and how many hits above the threshold were passed over for their file."""
        results: list[Obj] = []
        passed_over = 0
        for hit in hits:
            if hit.score < score_threshold:
                continue
            where = (hit.store_id, hit.file_id)
            if where not in shown:
                if filtered or where in unsearchable:
                    passed_over += 1  # filtered: it passed the filters in another of the stores only
                    continue
                read = await self.app.storage.get_vector_store_file(*where)
                if read is None or read["status"] != "completed":
                    unsearchable.add(where)  # detached, cancelled, or not yet (again) ingested
                    passed_over += 1
                    continue
                shown[where] = read
            file = shown[where]
            results.append({"file_id": hit.file_id, "filename": file.get("filename") or hit.file_id,
                            "score": hit.score, "attributes": file.get("attributes") or {},
                            "content": [{"type": "text", "text": hit.text}]})
            if len(results) == limit:
                break
        return results, passed_over

    def hybrid(self, store: Obj) -> bool:
        """Whether searching the store uses vectors; warns once per App when none can."""
        app = self.app
        if app.embedder is not None and uses_app_embedder(app, store):
            return True
        if not self.warned_keyword_only:
            self.warned_keyword_only = True
            log.warning("supercompat: vector store search is keyword-only: %s",
                        "no embedder is configured" if app.embedder is None
                        else "the store was built without the configured embedder")
        return False


# -- filters ---------------------------------------------------------------------------------------------
def matches(filters: Obj, attributes: Obj) -> bool:
    """Whether a file's ``attributes`` pass a search's ``filters`` (a comparison, or an ``and`` / ``or``
    of filters). A comparison of a missing attribute, or of values of different types, is false (true
    for ``ne`` and ``nin``)."""
    kind: str = filters["type"]
    if kind == "and":
        return all(matches(f, attributes) for f in filters["filters"])
    if kind == "or":
        return any(matches(f, attributes) for f in filters["filters"])
    wanted, key = filters["value"], filters["key"]
    if key not in attributes:
        return kind in ("ne", "nin")
    value = attributes[key]
    if kind in ("in", "nin"):
        found = any(_same_type(value, w) and value == w for w in wanted)
        return found if kind == "in" else not found
    if not _same_type(value, wanted):
        return kind == "ne"
    if kind == "eq":
        return bool(value == wanted)
    if kind == "ne":
        return bool(value != wanted)
    if isinstance(value, bool):
        return False  # booleans have no order
    comparisons = {"gt": value > wanted, "gte": value >= wanted, "lt": value < wanted, "lte": value <= wanted}
    return bool(comparisons[kind])


def _same_type(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, (int, float)):
        return isinstance(b, (int, float))
    return type(a) is type(b)


def refuse_if_expired(store: Obj) -> None:
    """An expired store takes no more files and answers no searches (it is kept only to be read,
    updated with a new ``expires_after`` or deleted)."""
    if expired(store):
        raise InvalidRequest(f"Vector store '{store['id']}' has expired: give it a new expires_after "
                             f"or create another.", code="vector_store_expired")


__all__ = ["INGEST_CONCURRENCY", "INGEST_JOB", "THREAD_STORE_EXPIRY", "VectorStores", "auto_strategy",
           "batch_status", "expires_at", "matches", "public_batch", "public_file", "public_store",
           "store_ids"]
