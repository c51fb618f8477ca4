"""The ``memory`` storage adapter. Every method runs without awaiting, so each is atomic on the
engine's event loop; lists bisect sorted id arrays, so they cost O(log n + limit)."""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Collection
from typing import Any

from . import (
    ACTIVE_RUN_STATUSES,
    EXECUTING_RUN_STATUSES,
    JOB_RUNNING,
    RUN_LEASE,
    ActiveRunError,
    ListQuery,
    Obj,
    Page,
    StaleStatusError,
    code_interpreter_file_ids,
    file_counts,
    without_file,
)


class _Ordered:
    """Objects kept in id (= creation) order."""

    __slots__ = ("ids", "items")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.items: dict[str, Obj] = {}

    def add(self, obj: Obj) -> None:
        oid = obj["id"]
        if self.ids and oid < self.ids[-1]:
            insort(self.ids, oid)
        else:
            self.ids.append(oid)
        self.items[oid] = obj

    def remove(self, oid: str) -> bool:
        if self.items.pop(oid, None) is None:
            return False
        del self.ids[bisect_left(self.ids, oid)]
        return True

    def page(self, q: ListQuery) -> Page:
        ids = self.ids
        lo = bisect_right(ids, q.after) if q.after and q.order == "asc" else 0
        hi = bisect_left(ids, q.after) if q.after and q.order == "desc" else len(ids)
        if q.before:
            if q.order == "asc":
                hi = min(hi, bisect_left(ids, q.before))
            else:
                lo = max(lo, bisect_right(ids, q.before))
        limit = q.limit
        # Paging forward takes the range's start in list order; `before` alone pages backward,
        # so it takes the items nearest the cursor.
        from_low_end = (q.order == "asc") == (q.after is not None or q.before is None)
        if from_low_end:
            chosen = ids[lo:min(hi, lo + limit)]
            has_more = lo + limit < hi
        else:
            chosen = ids[max(lo, hi - limit):hi]
            has_more = hi - limit > lo
        if q.order == "desc":
            chosen.reverse()
        items = self.items
        return Page([items[i] for i in chosen], has_more)


class _Thread:
    __slots__ = ("obj", "messages", "runs", "run_messages", "steps", "thread_steps", "active_run")

    def __init__(self, obj: Obj) -> None:
        self.obj = obj
        self.messages = _Ordered()
        self.runs = _Ordered()
        self.run_messages: dict[str, _Ordered] = {}
        self.steps: dict[str, _Ordered] = {}  # per run
        self.thread_steps: dict[str | None, _Ordered] = {}  # the whole thread's, by type and (None) all
        self.active_run: str | None = None


def _merge(obj: Obj, changes: Obj) -> Obj:
    return {**obj, **changes}


class _VectorStore:
    """A vector store, its files and batches, and the counts its reads derive from them."""

    __slots__ = ("obj", "files", "batches", "counts", "batch_counts", "usage_bytes")

    def __init__(self, obj: Obj) -> None:
        self.obj = obj
        self.files = _Ordered()
        self.batches: dict[str, Obj] = {}
        self.counts: Counter[str] = Counter()
        self.batch_counts: dict[str, Counter[str]] = {}
        self.usage_bytes = 0

    def count(self, file: Obj, sign: int) -> None:
        self.counts[file["status"]] += sign
        self.usage_bytes += sign * (file.get("usage_bytes") or 0)
        if file.get("batch_id") in self.batch_counts:
            self.batch_counts[file["batch_id"]][file["status"]] += sign

    def put_file(self, file: Obj) -> None:
        old = self.files.items.get(file["id"])
        if old is not None:
            self.count(old, -1)
            self.files.items[file["id"]] = file
        else:
            self.files.add(file)
        self.count(file, 1)

    def shown(self) -> Obj:
        return {**self.obj, "usage_bytes": self.usage_bytes, "file_counts": file_counts(self.counts)}

    def shown_batch(self, batch_id: str) -> Obj:
        return {**self.batches[batch_id], "file_counts": file_counts(self.batch_counts[batch_id])}


class MemoryStorageAdapter:
    def __init__(self) -> None:
        # One ordered collection per project, so a project's list pages without skipping others'.
        self._assistants: dict[str | None, _Ordered] = {}
        self._assistant_projects: dict[str, str | None] = {}
        self._threads: dict[str, _Thread] = {}
        # Each project's thread ids in order, for list_threads; the threads themselves are only in _threads.
        self._thread_lists: dict[str | None, _Ordered] = {}
        self._heartbeats: dict[str, tuple[str, float]] = {}  # run id -> (thread id, last heartbeat)
        self._jobs: dict[str, Obj] = {}
        self._job_beats: dict[str, float] = {}  # running job id -> last heartbeat
        # Files per (project, purpose), and per (project, None) all of a project's.
        self._files: dict[tuple[str | None, str | None], _Ordered] = {}
        self._file_index: dict[str, Obj] = {}
        # file id -> the assistants and threads whose code_interpreter.file_ids may name it (a
        # superset: an update adds, only a detach or the owner's delete removes).
        self._file_refs: dict[str, set[str]] = {}
        self._uploads: dict[str, Obj] = {}
        self._upload_parts: dict[str, _Ordered] = {}
        self._pending_uploads = _Ordered()  # what may expire: a scan of these, few in one process
        self._vector_stores: dict[str | None, _Ordered] = {}  # per project, as assistants
        self._vector_store_index: dict[str, _VectorStore] = {}
        self._file_stores: dict[str, set[str]] = {}  # file id -> the stores it is attached to

    # assistants
    def _assistant_bucket(self, assistant_id: str) -> _Ordered | None:
        if assistant_id not in self._assistant_projects:
            return None
        return self._assistants[self._assistant_projects[assistant_id]]

    async def create_assistant(self, assistant: Obj) -> Obj:
        project = assistant.get("project")
        self._assistants.setdefault(project, _Ordered()).add(assistant)
        self._assistant_projects[assistant["id"]] = project
        self._refer(assistant)
        return assistant

    async def get_assistant(self, assistant_id: str) -> Obj | None:
        bucket = self._assistant_bucket(assistant_id)
        return bucket.items[assistant_id] if bucket else None

    async def update_assistant(self, assistant_id: str, changes: Obj) -> Obj | None:
        bucket = self._assistant_bucket(assistant_id)
        if bucket is None:
            return None
        bucket.items[assistant_id] = new = _merge(bucket.items[assistant_id], changes)
        self._refer(new)
        return new

    async def delete_assistant(self, assistant_id: str) -> bool:
        bucket = self._assistant_bucket(assistant_id)
        if bucket is None:
            return False
        del self._assistant_projects[assistant_id]
        self._unrefer(bucket.items[assistant_id])
        return bucket.remove(assistant_id)

    async def list_assistants(self, query: ListQuery, *, project: str | None = None) -> Page:
        bucket = self._assistants.get(project)
        return bucket.page(query) if bucket else Page([], False)

    # threads
    async def create_thread(self, thread: Obj, messages: list[Obj]) -> Obj:
        t = _Thread(thread)
        for m in messages:
            t.messages.add(m)
        self._threads[thread["id"]] = t
        self._thread_lists.setdefault(thread.get("project"), _Ordered()).add({"id": thread["id"]})
        self._refer(thread)
        return thread

    async def get_thread(self, thread_id: str) -> Obj | None:
        t = self._threads.get(thread_id)
        return t.obj if t else None

    async def update_thread(self, thread_id: str, changes: Obj, *, expected: Obj | None = None) -> Obj | None:
        t = self._threads.get(thread_id)
        if t is None:
            return None
        if expected is not None and any(t.obj.get(k) != v for k, v in expected.items()):
            raise StaleStatusError(t.obj)
        t.obj = _merge(t.obj, changes)
        self._refer(t.obj)
        return t.obj

    async def delete_thread(self, thread_id: str) -> bool:
        t = self._threads.pop(thread_id, None)
        if t is None:
            return False
        self._thread_lists[t.obj.get("project")].remove(thread_id)
        self._unrefer(t.obj)
        return True

    async def list_threads(self, query: ListQuery, *, project: str | None = None) -> Page:
        bucket = self._thread_lists.get(project)
        if bucket is None:
            return Page([], False)
        page = bucket.page(query)
        return Page([self._threads[t["id"]].obj for t in page.data], page.has_more)

    # messages
    def _active_run(self, t: _Thread) -> str | None:
        rid = t.active_run
        if rid is not None and t.runs.items[rid]["status"] not in ACTIVE_RUN_STATUSES:
            t.active_run = rid = None
        return rid

    async def create_message(self, message: Obj) -> Obj:
        t = self._threads[message["thread_id"]]
        run_id = message.get("run_id")
        if run_id is None:
            active = self._active_run(t)
            if active is not None:
                raise ActiveRunError(t.obj["id"], active)
        t.messages.add(message)
        if run_id is not None:
            t.run_messages.setdefault(run_id, _Ordered()).add(message)
        return message

    async def get_message(self, thread_id: str, message_id: str) -> Obj | None:
        t = self._threads.get(thread_id)
        return t.messages.items.get(message_id) if t else None

    async def update_message(self, thread_id: str, message_id: str, changes: Obj) -> Obj | None:
        t = self._threads.get(thread_id)
        if t is None or message_id not in t.messages.items:
            return None
        new = _merge(t.messages.items[message_id], changes)
        t.messages.items[message_id] = new
        run_id = new.get("run_id")
        if run_id is not None:
            t.run_messages[run_id].items[message_id] = new
        return new

    async def delete_message(self, thread_id: str, message_id: str) -> bool:
        t = self._threads.get(thread_id)
        if t is None:
            return False
        message = t.messages.items.get(message_id)
        if message is None:
            return False
        t.messages.remove(message_id)
        run_id = message.get("run_id")
        if run_id is not None:
            t.run_messages[run_id].remove(message_id)
        return True

    async def list_messages(self, thread_id: str, query: ListQuery, *, run_id: str | None = None) -> Page:
        t = self._threads.get(thread_id)
        if t is None:
            return Page([], False)
        if run_id is None:
            return t.messages.page(query)
        coll = t.run_messages.get(run_id)
        return coll.page(query) if coll else Page([], False)

    # runs
    async def create_run(self, run: Obj, messages: list[Obj]) -> Obj:
        t = self._threads[run["thread_id"]]
        active = self._active_run(t)
        if active is not None:
            raise ActiveRunError(t.obj["id"], active)
        for m in messages:
            t.messages.add(m)
        t.runs.add(run)
        t.steps[run["id"]] = _Ordered()
        if run["status"] in ACTIVE_RUN_STATUSES:
            t.active_run = run["id"]
        self._heartbeats[run["id"]] = (run["thread_id"], time.time())
        return run

    async def get_run(self, thread_id: str, run_id: str) -> Obj | None:
        t = self._threads.get(thread_id)
        return t.runs.items.get(run_id) if t else None

    async def update_run(self, thread_id: str, run_id: str, changes: Obj, *,
                         expected_status: frozenset[str] | None = None) -> Obj | None:
        t = self._threads.get(thread_id)
        if t is None or run_id not in t.runs.items:
            return None
        current = t.runs.items[run_id]
        if expected_status is not None and current["status"] not in expected_status:
            raise StaleStatusError(current)
        t.runs.items[run_id] = new = _merge(current, changes)
        if new["status"] in ACTIVE_RUN_STATUSES:
            self._heartbeats[run_id] = (thread_id, time.time())
        else:
            self._heartbeats.pop(run_id, None)  # finished: never an orphan
        return new

    async def list_runs(self, thread_id: str, query: ListQuery) -> Page:
        t = self._threads.get(thread_id)
        return t.runs.page(query) if t else Page([], False)

    async def get_active_run(self, thread_id: str) -> Obj | None:
        t = self._threads.get(thread_id)
        if t is None:
            return None
        rid = self._active_run(t)
        return t.runs.items[rid] if rid else None

    # leases
    async def renew_leases(self, kind: str, leases: Collection[Any]) -> list[str]:
        now, cancelled = time.time(), []
        if kind == RUN_LEASE:
            for oid in leases:
                beat = self._heartbeats.get(oid)
                run = None if beat is None else await self.get_run(beat[0], oid)
                if beat is not None and run is not None:
                    self._heartbeats[oid] = (beat[0], now)
                    if run["status"] == "cancelling":
                        cancelled.append(oid)
            return cancelled
        for oid, attempt in leases:  # a job's lease is its attempt's: a former holder renews nothing
            job = self._jobs.get(oid)
            if job is None or (job["kind"], job["attempt"], job["status"]) != (kind, attempt, JOB_RUNNING):
                continue
            self._job_beats[oid] = now
            if job["cancel_requested"]:
                cancelled.append(oid)
        return cancelled

    async def claim_lapsed(self, kind: str, silent_since: float, *, scope: str | None = None,
                           limit: int = 100) -> list[Obj]:
        # Nothing here awaits, so the look and the take are one step on the loop: atomic.
        now, claimed = time.time(), list[Obj]()
        if kind == RUN_LEASE:
            for run_id, (tid, at) in list(self._heartbeats.items()):
                run = await self.get_run(tid, run_id)
                if run is None:
                    del self._heartbeats[run_id]  # its thread was deleted
                elif (at < silent_since and run["status"] in EXECUTING_RUN_STATUSES
                      and (scope is None or tid == scope) and len(claimed) < limit):
                    self._heartbeats[run_id] = (tid, now)
                    claimed.append(run)
            return claimed
        for job_id, at in list(self._job_beats.items()):
            job = self._jobs[job_id]
            lapsed = at < silent_since and job["kind"] == kind and job["status"] == JOB_RUNNING
            if lapsed and len(claimed) < limit:
                self._jobs[job_id] = job = {**job, "attempt": job["attempt"] + 1}
                self._job_beats[job_id] = now
                claimed.append(job)
        return claimed

    # jobs
    async def create_job(self, job: Obj) -> Obj:
        self._jobs[job["id"]] = job
        self._job_beats[job["id"]] = time.time()
        return job

    async def get_job(self, job_id: str) -> Obj | None:
        return self._jobs.get(job_id)

    async def update_job(self, job_id: str, attempt: int, changes: Obj) -> Obj | None:
        job = self._jobs.get(job_id)
        if job is None or job["status"] != JOB_RUNNING or job["attempt"] != attempt:
            return None
        self._jobs[job_id] = new = _merge(job, changes)
        if new["status"] == JOB_RUNNING:
            self._job_beats[job_id] = time.time()
        else:
            self._job_beats.pop(job_id, None)  # ended: nobody's to claim
        return new

    async def cancel_job(self, job_id: str) -> Obj | None:
        job = self._jobs.get(job_id)
        if job is None or job["status"] != JOB_RUNNING:
            return job
        self._jobs[job_id] = new = {**job, "cancel_requested": True}
        return new

    # steps
    async def create_step(self, step: Obj) -> Obj:
        t = self._threads[step["thread_id"]]
        t.steps[step["run_id"]].add(step)
        for key in (None, step["type"]):
            t.thread_steps.setdefault(key, _Ordered()).add(step)
        return step

    def _steps(self, thread_id: str, run_id: str) -> _Ordered | None:
        t = self._threads.get(thread_id)
        return t.steps.get(run_id) if t else None

    async def get_step(self, thread_id: str, run_id: str, step_id: str) -> Obj | None:
        steps = self._steps(thread_id, run_id)
        return steps.items.get(step_id) if steps else None

    async def update_step(self, thread_id: str, run_id: str, step_id: str, changes: Obj) -> Obj | None:
        steps = self._steps(thread_id, run_id)
        if steps is None or step_id not in steps.items:
            return None
        old = steps.items[step_id]
        steps.items[step_id] = new = _merge(old, changes)
        thread_steps = self._threads[thread_id].thread_steps
        thread_steps[None].items[step_id] = new
        if new["type"] == old["type"]:
            thread_steps[new["type"]].items[step_id] = new
        else:  # not something the engine does, but an update may change any field
            thread_steps[old["type"]].remove(step_id)
            thread_steps.setdefault(new["type"], _Ordered()).add(new)
        return new

    async def list_steps(self, thread_id: str, run_id: str, query: ListQuery) -> Page:
        steps = self._steps(thread_id, run_id)
        return steps.page(query) if steps else Page([], False)

    async def list_thread_steps(self, thread_id: str, query: ListQuery, *, step_type: str | None = None) -> Page:
        t = self._threads.get(thread_id)
        steps = t.thread_steps.get(step_type) if t else None
        return steps.page(query) if steps else Page([], False)

    # files
    def _refer(self, owner: Obj) -> None:
        for file_id in code_interpreter_file_ids(owner):
            self._file_refs.setdefault(file_id, set()).add(owner["id"])

    def _unrefer(self, owner: Obj) -> None:
        for file_id in code_interpreter_file_ids(owner):
            owners = self._file_refs.get(file_id)
            if owners is not None:
                owners.discard(owner["id"])
                if not owners:
                    del self._file_refs[file_id]

    def _store_file(self, file: Obj) -> None:
        project = file.get("project")
        for purpose in (None, file["purpose"]):
            self._files.setdefault((project, purpose), _Ordered()).add(file)
        self._file_index[file["id"]] = file

    async def create_file(self, file: Obj) -> Obj:
        self._store_file(file)
        return file

    async def get_file(self, file_id: str) -> Obj | None:
        return self._file_index.get(file_id)

    async def delete_file(self, file_id: str) -> bool:
        file = self._file_index.pop(file_id, None)
        if file is None:
            return False
        for purpose in (None, file["purpose"]):
            self._files[(file.get("project"), purpose)].remove(file_id)
        return True

    async def list_files(self, query: ListQuery, *, project: str | None = None,
                         purpose: str | None = None) -> Page:
        bucket = self._files.get((project, purpose))
        return bucket.page(query) if bucket else Page([], False)

    async def detach_file(self, file_id: str) -> list[str]:
        detached = []
        for owner_id in sorted(self._file_refs.pop(file_id, ())):
            if owner_id in self._threads:
                owner: Obj | None = self._threads[owner_id].obj
            else:
                owner = await self.get_assistant(owner_id)
            resources = None if owner is None else without_file(owner, file_id)
            if resources is None:
                continue
            changes = {"tool_resources": resources}
            if owner_id in self._threads:
                self._threads[owner_id].obj = _merge(self._threads[owner_id].obj, changes)
            else:
                bucket = self._assistant_bucket(owner_id)
                assert bucket is not None
                bucket.items[owner_id] = _merge(bucket.items[owner_id], changes)
            detached.append(owner_id)
        return detached

    # uploads
    async def create_upload(self, upload: Obj) -> Obj:
        self._uploads[upload["id"]] = upload
        self._upload_parts[upload["id"]] = _Ordered()
        if upload["status"] == "pending":
            self._pending_uploads.add(upload)
        return upload

    def _set_upload(self, upload: Obj) -> None:
        self._uploads[upload["id"]] = upload
        if upload["status"] == "pending":
            self._pending_uploads.items[upload["id"]] = upload
        else:
            self._pending_uploads.remove(upload["id"])

    async def get_upload(self, upload_id: str) -> Obj | None:
        return self._uploads.get(upload_id)

    async def add_upload_part(self, part: Obj) -> Obj | None:
        upload = self._uploads.get(part["upload_id"])
        if upload is None:
            return None
        if upload["status"] != "pending":
            raise StaleStatusError(upload)
        self._upload_parts[upload["id"]].add(part)
        return part

    async def list_upload_parts(self, upload_id: str) -> list[Obj]:
        parts = self._upload_parts.get(upload_id)
        return [parts.items[i] for i in parts.ids] if parts else []

    async def update_upload(self, upload_id: str, changes: Obj, *,
                            expected_status: frozenset[str] | None = None) -> Obj | None:
        upload = self._uploads.get(upload_id)
        if upload is None:
            return None
        if expected_status is not None and upload["status"] not in expected_status:
            raise StaleStatusError(upload)
        new = _merge(upload, changes)
        if upload["status"] == "pending" or new["status"] != "pending":
            self._set_upload(new)
        else:  # back to pending: not something the API does
            self._uploads[upload_id] = new
            self._pending_uploads.add(new)
        return new

    async def complete_upload(self, upload_id: str, file: Obj) -> Obj | None:
        upload = self._uploads.get(upload_id)
        if upload is None:
            return None
        if upload["status"] != "pending":
            raise StaleStatusError(upload)
        self._store_file(file)
        new = _merge(upload, {"status": "completed", "file": file})
        self._set_upload(new)
        return new

    async def list_expired_uploads(self, now: float, *, limit: int = 100) -> list[Obj]:
        pending = self._pending_uploads.items.values()
        expired = sorted((u for u in pending if u["expires_at"] <= now),
                         key=lambda u: (u["expires_at"], u["id"]))
        return expired[:limit]

    # vector stores
    def _attach(self, vs: _VectorStore, files: list[Obj]) -> list[Obj]:
        stored = []
        for file in files:
            if file["id"] not in vs.files.items:
                vs.put_file(file)
                self._file_stores.setdefault(file["id"], set()).add(vs.obj["id"])
            stored.append(vs.files.items[file["id"]])
        return stored

    async def create_vector_store(self, store: Obj, files: list[Obj]) -> Obj:
        vs = _VectorStore(store)
        self._vector_stores.setdefault(store.get("project"), _Ordered()).add(store)
        self._vector_store_index[store["id"]] = vs
        self._attach(vs, files)
        return vs.shown()

    async def get_vector_store(self, store_id: str) -> Obj | None:
        vs = self._vector_store_index.get(store_id)
        return None if vs is None else vs.shown()

    async def update_vector_store(self, store_id: str, changes: Obj) -> Obj | None:
        vs = self._vector_store_index.get(store_id)
        if vs is None:
            return None
        project = vs.obj.get("project")
        vs.obj = _merge(vs.obj, changes)
        if vs.obj.get("project") == project:
            self._vector_stores[project].items[store_id] = vs.obj
        else:  # listed under its new project from now on
            self._vector_stores[project].remove(store_id)
            self._vector_stores.setdefault(vs.obj.get("project"), _Ordered()).add(vs.obj)
        return vs.shown()

    async def delete_vector_store(self, store_id: str) -> bool:
        vs = self._vector_store_index.pop(store_id, None)
        if vs is None:
            return False
        self._vector_stores[vs.obj.get("project")].remove(store_id)
        for file_id in vs.files.ids:
            self._file_stores[file_id].discard(store_id)
            if not self._file_stores[file_id]:
                del self._file_stores[file_id]
        return True

    async def list_vector_stores(self, query: ListQuery, *, project: str | None = None) -> Page:
        bucket = self._vector_stores.get(project)
        if not bucket:
            return Page([], False)
        page = bucket.page(query)
        page.data = [self._vector_store_index[s["id"]].shown() for s in page.data]
        return page

    async def attach_files(self, store_id: str, files: list[Obj], *, batch: Obj | None = None) -> list[Obj] | None:
        vs = self._vector_store_index.get(store_id)
        if vs is None:
            return None
        if batch is not None:
            vs.batches[batch["id"]] = batch
            vs.batch_counts[batch["id"]] = Counter()
        return self._attach(vs, files)

    async def get_vector_store_file(self, store_id: str, file_id: str) -> Obj | None:
        vs = self._vector_store_index.get(store_id)
        return None if vs is None else vs.files.items.get(file_id)

    async def update_vector_store_file(self, store_id: str, file_id: str, changes: Obj, *,
                                       expected_status: frozenset[str] | None = None,
                                       expected_job: str | None = None) -> Obj | None:
        file = await self.get_vector_store_file(store_id, file_id)
        if file is None:
            return None
        if expected_status is not None and file["status"] not in expected_status:
            raise StaleStatusError(file)
        if expected_job is not None and file.get("job_id") != expected_job:
            raise StaleStatusError(file)
        new = _merge(file, changes)
        self._vector_store_index[store_id].put_file(new)
        return new

    async def detach_vector_store_file(self, store_id: str, file_id: str) -> bool:
        file = await self.get_vector_store_file(store_id, file_id)
        if file is None:
            return False
        vs = self._vector_store_index[store_id]
        vs.count(file, -1)
        vs.files.remove(file_id)
        self._file_stores[file_id].discard(store_id)
        if not self._file_stores[file_id]:
            del self._file_stores[file_id]
        return True

    async def list_vector_store_files(self, store_id: str, query: ListQuery, *, status: str | None = None,
                                      batch_id: str | None = None) -> Page:
        vs = self._vector_store_index.get(store_id)
        if vs is None:
            return Page([], False)
        if status is None and batch_id is None:
            return vs.files.page(query)
        chosen = _Ordered()  # a scan: the memory storage holds few files
        for file_id in vs.files.ids:
            file = vs.files.items[file_id]
            if (status is None or file["status"] == status) and (batch_id is None or file.get("batch_id") == batch_id):
                chosen.ids.append(file_id)
                chosen.items[file_id] = file
        return chosen.page(query)

    async def vector_stores_of_file(self, file_id: str) -> list[str]:
        return sorted(self._file_stores.get(file_id, ()))

    async def get_file_batch(self, store_id: str, batch_id: str) -> Obj | None:
        vs = self._vector_store_index.get(store_id)
        return None if vs is None or batch_id not in vs.batches else vs.shown_batch(batch_id)

    async def cancel_file_batch(self, store_id: str, batch_id: str) -> Obj | None:
        vs = self._vector_store_index.get(store_id)
        if vs is None or batch_id not in vs.batches:
            return None
        if vs.batches[batch_id]["status"] == "in_progress":
            vs.batches[batch_id] = _merge(vs.batches[batch_id], {"status": "cancelled"})
            for file_id in list(vs.files.ids):
                file = vs.files.items[file_id]
                if file.get("batch_id") == batch_id and file["status"] == "in_progress":
                    vs.put_file(_merge(file, {"status": "cancelled"}))
        return vs.shown_batch(batch_id)

    async def close(self) -> None:
        pass
