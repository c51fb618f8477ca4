"""The StorageAdapter contract and the built-in ``memory`` adapter.

Objects cross this boundary as plain dicts shaped exactly like the OpenAI API objects
(``openai.types.beta.*``). Adapters store and return them verbatim and treat what they return as
immutable: callers build new dicts to change anything.

Assistants, threads, files and uploads may also carry ``"project"`` (a str, or None when unscoped):
the project of the API key that created them on a server with several keys. Adapters store and
return it like any other key; the API layer checks it and never shows it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

Obj = dict[str, Any]

ACTIVE_RUN_STATUSES = frozenset({"queued", "in_progress", "requires_action", "cancelling"})
# Active statuses in which some process's engine is executing the run (requires_action waits for the user).
EXECUTING_RUN_STATUSES = frozenset({"queued", "in_progress", "cancelling"})
RUN_LEASE = "run"  # the lease kind of runs (see renew_leases); every other kind names jobs
JOB_RUNNING = "running"  # a job's status until it ends completed, failed or cancelled
EVERYTHING = 1 << 31  # a ListQuery limit meaning "every item": for reads of the engine, never of the API


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A cursor query. Ids sort in creation order, so cursors are compared, never looked up."""

    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


@dataclass(slots=True)
class Page:
    """One page of a list: its items, and whether more follow in the query's direction."""

    data: list[Obj]
    has_more: bool


class ActiveRunError(Exception):
    """The thread already has an active run; raised by create_run / create_message."""

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(f"thread {thread_id} has active run {run_id}")
        self.thread_id = thread_id
        self.run_id = run_id


class StaleStatusError(Exception):
    """A conditional update found the object changed: another status than the one it expected (a run,
    an upload, a vector store file), or other values than those it expected (a thread)."""

    def __init__(self, current: Obj) -> None:
        super().__init__(f"status is {current.get('status')!r}" if "status" in current
                         else "changed meanwhile")
        self.current = current


# The contract, one protocol per resource (an adapter may be checked against the part a caller uses);
# StorageAdapter is their union, what an App needs. Everything is async. ``get_*`` / ``update_*``
# return None for an unknown id; ``delete_*`` returns whether something was deleted. ``update_*``
# merge ``changes`` into the top level.

@runtime_checkable
class AssistantStorage(Protocol):
    """Assistants."""

    async def create_assistant(self, assistant: Obj) -> Obj: ...
    async def get_assistant(self, assistant_id: str) -> Obj | None: ...
    async def update_assistant(self, assistant_id: str, changes: Obj) -> Obj | None: ...
    async def delete_assistant(self, assistant_id: str) -> bool: ...
    async def list_assistants(self, query: ListQuery, *, project: str | None = None) -> Page:
        """Only the assistants whose ``"project"`` equals ``project`` (None matches a None or
        missing one)."""


@runtime_checkable
class ThreadStorage(Protocol):
    """Threads, created with their first messages and deleted with everything in them."""

    async def create_thread(self, thread: Obj, messages: list[Obj]) -> Obj: ...
    async def get_thread(self, thread_id: str) -> Obj | None: ...
    async def update_thread(self, thread_id: str, changes: Obj, *, expected: Obj | None = None) -> Obj | None:
        """With ``expected``, applied only if the thread's current value of each of its keys equals the
        one given, else StaleStatusError carrying the thread as stored: a compare-and-set, so that of
        two requests giving a thread its vector store at once, one wins and the other sees it."""

    async def delete_thread(self, thread_id: str) -> bool:
        """Deletes the thread with its messages, runs and steps, all or nothing."""

    async def list_threads(self, query: ListQuery, *, project: str | None = None) -> Page:
        """Only the threads whose ``"project"`` equals ``project``, as ``list_assistants``. OpenAI's API
        has no such list; ``GET /v1/threads`` serves it to the dashboard."""


@runtime_checkable
class MessageStorage(Protocol):
    """The messages of a thread."""

    async def create_message(self, message: Obj) -> Obj:
        """Raises ActiveRunError when the message has no ``run_id`` and the thread has an active run."""

    async def get_message(self, thread_id: str, message_id: str) -> Obj | None: ...
    async def update_message(self, thread_id: str, message_id: str, changes: Obj) -> Obj | None: ...
    async def delete_message(self, thread_id: str, message_id: str) -> bool: ...
    async def list_messages(self, thread_id: str, query: ListQuery, *, run_id: str | None = None) -> Page:
        """Costs O(limit), whatever the size of the thread."""


@runtime_checkable
class RunStorage(Protocol):
    """The runs of a thread: at most one active at a time, moved from status to status conditionally."""

    async def create_run(self, run: Obj, messages: list[Obj]) -> Obj:
        """Atomically: raise ActiveRunError if the thread has an active run, else add ``messages``
        (the run's ``additional_messages``) and the run."""

    async def get_run(self, thread_id: str, run_id: str) -> Obj | None: ...
    async def update_run(self, thread_id: str, run_id: str, changes: Obj, *,
                         expected_status: frozenset[str] | None = None) -> Obj | None:
        """With ``expected_status``, apply only if the current status is in it, else raise
        StaleStatusError carrying the current run: concurrent transitions never overwrite each other."""

    async def list_runs(self, thread_id: str, query: ListQuery) -> Page: ...
    async def get_active_run(self, thread_id: str) -> Obj | None: ...


@runtime_checkable
class StepStorage(Protocol):
    """The steps of a run."""

    async def create_step(self, step: Obj) -> Obj: ...
    async def get_step(self, thread_id: str, run_id: str, step_id: str) -> Obj | None: ...
    async def update_step(self, thread_id: str, run_id: str, step_id: str, changes: Obj) -> Obj | None: ...
    async def list_steps(self, thread_id: str, run_id: str, query: ListQuery) -> Page: ...
    async def list_thread_steps(self, thread_id: str, query: ListQuery, *, step_type: str | None = None) -> Page:
        """The steps of every run of a thread (only those of ``step_type`` if given), in id order: what
        a prompt is built from, in one call however many runs the thread has had."""


@runtime_checkable
class LeaseStorage(Protocol):
    """Leases: background work that another process finishes when its holder dies (see
    ``supercompat.jobs``). A lease of kind RUN_LEASE is a run's own (create_run and every update_run
    renew it); any other kind is a job of that kind (:class:`JobStorage`). One heartbeat, one sweep
    and one claim for all of them."""

    async def renew_leases(self, kind: str, leases: Collection[Any]) -> list[str]:
        """The heartbeat: record (now) that this process still holds ``leases`` of ``kind`` (for
        RUN_LEASE, run ids; for a job kind, ``(job_id, attempt)`` pairs, renewed only while the job
        is JOB_RUNNING at that attempt, so a holder whose job was claimed by another process renews
        nothing of it), and return the ids of those renewed whose cancel was requested (a run
        ``cancelling``; a job ``cancel_requested``), so that a cancel made by another process reaches
        the holder. Unknown ids are skipped."""

    async def claim_lapsed(self, kind: str, silent_since: float, *, scope: str | None = None,
                           limit: int = 100) -> list[Obj]:
        """Atomically take over up to ``limit`` leases of ``kind`` not renewed since ``silent_since``
        (epoch seconds; their holder died): the claim renews them, so of two processes claiming at
        once each lease goes to one. Returns them as now stored. For RUN_LEASE: runs in an
        EXECUTING_RUN_STATUSES status, of thread ``scope`` if given. For jobs: ``running`` jobs of
        that kind, each with ``attempt`` incremented (``scope`` is not used)."""


@runtime_checkable
class JobStorage(Protocol):
    """Jobs: background work other than runs, each held under a lease of its kind, per attempt."""

    async def create_job(self, job: Obj) -> Obj:
        """Store a new job (JOB_RUNNING, ``attempt`` 1): its creator holds the lease from now."""

    async def get_job(self, job_id: str) -> Obj | None: ...
    async def update_job(self, job_id: str, attempt: int, changes: Obj) -> Obj | None:
        """The lease holder's write (progress in ``payload``, or the ending: ``status``, ``finished_at``,
        ``last_error``), renewing the lease: applied only while the job is JOB_RUNNING at ``attempt``,
        so a holder whose job was reclaimed by another process can no longer write it (None then)."""

    async def cancel_job(self, job_id: str) -> Obj | None:
        """Request the cancel of a running job (``cancel_requested``): its holder sees it at its next
        heartbeat. A finished job is returned unchanged; None for an unknown id."""


def code_interpreter_file_ids(obj: Obj) -> list[str]:
    """The file ids in an assistant's or thread's ``tool_resources.code_interpreter.file_ids``: what
    :meth:`FileStorage.detach_file` must find without scanning every assistant and thread."""
    resources = obj.get("tool_resources")
    ci = resources.get("code_interpreter") if isinstance(resources, dict) else None
    file_ids = ci.get("file_ids") if isinstance(ci, dict) else None
    return [f for f in file_ids if isinstance(f, str)] if isinstance(file_ids, list) else []


def without_file(obj: Obj, file_id: str) -> Obj | None:
    """``obj``'s ``tool_resources`` without ``file_id`` in ``code_interpreter.file_ids``; None if it
    was not there."""
    file_ids = code_interpreter_file_ids(obj)
    if file_id not in file_ids:
        return None
    resources = dict(obj["tool_resources"])
    resources["code_interpreter"] = {**resources["code_interpreter"],
                                     "file_ids": [f for f in file_ids if f != file_id]}
    return resources


@runtime_checkable
class FileStorage(Protocol):
    """Files: their metadata (``openai.types.FileObject`` dicts; the bytes live in the blob store),
    and where they are referenced. Creating or updating an assistant or a thread records the file ids
    of its ``tool_resources.code_interpreter.file_ids`` (:func:`code_interpreter_file_ids`), so that
    ``detach_file`` costs what the file is referenced by, not the number of assistants and threads."""

    async def create_file(self, file: Obj) -> Obj: ...
    async def get_file(self, file_id: str) -> Obj | None: ...
    async def delete_file(self, file_id: str) -> bool:
        """Deletes the metadata only: ``supercompat.files.delete_file`` also detaches the file and
        deletes its bytes."""

    async def list_files(self, query: ListQuery, *, project: str | None = None,
                         purpose: str | None = None) -> Page:
        """The files of ``project`` (None matches a None or missing one), only those of ``purpose``
        if given."""

    async def detach_file(self, file_id: str) -> list[str]:
        """Remove ``file_id`` from the ``tool_resources.code_interpreter.file_ids`` of every assistant
        and thread that has it; returns their ids."""


@runtime_checkable
class UploadStorage(Protocol):
    """Uploads of large files in parts (``openai.types.Upload`` dicts, ``openai.types.uploads.UploadPart``
    for parts; a part may carry more keys, such as its ``bytes``, returned as stored). An upload
    is changed only while ``pending``: a part added, cancelled, completed."""

    async def create_upload(self, upload: Obj) -> Obj: ...
    async def get_upload(self, upload_id: str) -> Obj | None: ...
    async def add_upload_part(self, part: Obj) -> Obj | None:
        """Store ``part`` if its upload (``part["upload_id"]``) is ``pending``, atomically: None for
        an unknown upload, StaleStatusError carrying the upload if it is not pending."""

    async def list_upload_parts(self, upload_id: str) -> list[Obj]:
        """Every part of the upload, in id order."""

    async def update_upload(self, upload_id: str, changes: Obj, *,
                            expected_status: frozenset[str] | None = None) -> Obj | None:
        """As ``update_run``: with ``expected_status``, applied only if the current status is in it,
        else StaleStatusError carrying the current upload."""

    async def complete_upload(self, upload_id: str, file: Obj) -> Obj | None:
        """Atomically: move the upload from ``pending`` to ``completed`` with ``file`` as its ``file``,
        and store ``file`` (as ``create_file``). None for an unknown upload, StaleStatusError carrying
        the upload if it is not pending (then nothing is stored)."""

    async def list_expired_uploads(self, now: float, *, limit: int = 100) -> list[Obj]:
        """Up to ``limit`` uploads still ``pending`` whose ``expires_at`` is at or before ``now``,
        those that expired first first: what the sweep marks expired and removes the parts of. An
        index seek, however many uploads there are."""


VECTOR_STORE_FILE_STATUSES = ("in_progress", "completed", "cancelled", "failed")


def file_counts(counts: dict[str, int] | None = None) -> dict[str, int]:
    """A ``file_counts`` object (``in_progress, completed, failed, cancelled, total``) from counts by
    status: what a vector store and a file batch show, derived from their files."""
    counts = counts or {}
    shown = {status: counts.get(status, 0) for status in ("in_progress", "completed", "failed", "cancelled")}
    return {**shown, "total": sum(shown.values())}


@runtime_checkable
class VectorStoreStorage(Protocol):
    """Vector stores (``openai.types.VectorStore`` dicts), the files attached to them
    (``openai.types.vector_stores.VectorStoreFile`` dicts, keyed by ``(vector_store_id, id)``: their
    id is the File's) and file batches (``VectorStoreFileBatch`` dicts). Their searchable chunks are
    not here but in the App's chunk index (``supercompat.search``).

    A store's ``file_counts`` and ``usage_bytes`` and a batch's ``file_counts`` are derived from
    their files on every read (:func:`file_counts`, ``usage_bytes`` summed), never kept as counters
    a writer could miss: exact however many attaches and ingestions run at once. What a caller
    passes for them is ignored. ``status`` is stored as given; core derives what is shown.

    Besides their API fields, objects may carry keys the API never shows, stored and returned like
    any other: a store its ``project`` and ``embedder`` (what its vectors came from), a file its
    ``filename``, ``batch_id`` (the batch that attached it, or None) and ``job_id`` (its ingestion)."""

    async def create_vector_store(self, store: Obj, files: list[Obj]) -> Obj:
        """Store a new vector store with ``files`` (VectorStoreFile dicts) attached, all or nothing."""

    async def get_vector_store(self, store_id: str) -> Obj | None: ...
    async def update_vector_store(self, store_id: str, changes: Obj) -> Obj | None: ...
    async def delete_vector_store(self, store_id: str) -> bool:
        """Deletes the store with its files (attachments only) and batches, all or nothing."""

    async def list_vector_stores(self, query: ListQuery, *, project: str | None = None) -> Page:
        """The stores whose ``"project"`` equals ``project`` (None matches a None or missing one)."""

    async def attach_files(self, store_id: str, files: list[Obj], *, batch: Obj | None = None) -> list[Obj] | None:
        """Attach ``files`` to the store, and store ``batch`` (its ``id`` is their ``batch_id``) if
        given, all or nothing. A file already attached stays as it is (not replaced, not in
        ``batch``). Returns the files as now stored, in the order given; None for an unknown store."""

    async def get_vector_store_file(self, store_id: str, file_id: str) -> Obj | None: ...
    async def update_vector_store_file(self, store_id: str, file_id: str, changes: Obj, *,
                                       expected_status: frozenset[str] | None = None,
                                       expected_job: str | None = None) -> Obj | None:
        """As ``update_run``: with ``expected_status``, applied only if the file's status is in it,
        and with ``expected_job`` only if its ``job_id`` is that, else StaleStatusError carrying the
        file as stored (an ingestion ending never overwrites a cancel, nor a cancel an ending, nor
        the job of an earlier attachment the file's attachment since)."""

    async def detach_vector_store_file(self, store_id: str, file_id: str) -> bool: ...
    async def list_vector_store_files(self, store_id: str, query: ListQuery, *, status: str | None = None,
                                      batch_id: str | None = None) -> Page:
        """The files of a store (only those of ``status`` and of ``batch_id`` if given), in id order:
        O(limit) whatever the size of the store."""

    async def vector_stores_of_file(self, file_id: str) -> list[str]:
        """The ids of the stores ``file_id`` is attached to: what deleting the File detaches it from."""

    async def get_file_batch(self, store_id: str, batch_id: str) -> Obj | None: ...
    async def cancel_file_batch(self, store_id: str, batch_id: str) -> Obj | None:
        """Atomically: the batch's status becomes ``cancelled`` and its files still ``in_progress``
        ``cancelled``. Returns the batch as now stored (unchanged if it was not ``in_progress``)."""


@runtime_checkable
class StorageAdapter(AssistantStorage, ThreadStorage, MessageStorage, RunStorage, StepStorage, LeaseStorage,
                     JobStorage, FileStorage, UploadStorage, VectorStoreStorage, Protocol):
    """The whole storage contract, what an App is given: every resource's protocol, and ``close``."""

    async def close(self) -> None: ...


def memory_storage_adapter() -> StorageAdapter:
    """State in this process's memory: fast, and gone when the process ends."""
    from .memory import MemoryStorageAdapter

    return MemoryStorageAdapter()


__all__ = [
    "ACTIVE_RUN_STATUSES", "EVERYTHING", "EXECUTING_RUN_STATUSES", "JOB_RUNNING", "RUN_LEASE", "ActiveRunError",
    "AssistantStorage", "FileStorage", "JobStorage", "LeaseStorage", "ListQuery", "MessageStorage", "Obj",
    "Page", "RunStorage", "StaleStatusError", "StepStorage", "StorageAdapter", "ThreadStorage",
    "UploadStorage", "VECTOR_STORE_FILE_STATUSES", "VectorStoreStorage",
    "code_interpreter_file_ids", "file_counts", "memory_storage_adapter", "without_file",
]
