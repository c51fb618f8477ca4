"""StorageAdapterTests: the behaviour every StorageAdapter must have."""

from __future__ import annotations

import asyncio
import time
from typing import Any, TypeVar

from ..files import new_file_id
from ..ids import new_id
from ..storage import RUN_LEASE, ActiveRunError, ListQuery, StaleStatusError, StorageAdapter
from .kit import Kit, fixture, pytest


def make_assistant(**fields: Any) -> dict[str, Any]:
    return {"id": new_id("asst"), "object": "assistant", "created_at": int(time.time()), "name": None,
            "description": None, "model": "m", "instructions": None, "tools": [], "tool_resources": {},
            "metadata": {}, "temperature": 1.0, "top_p": 1.0, "response_format": "auto", **fields}


def make_thread(**fields: Any) -> dict[str, Any]:
    return {"id": new_id("thread"), "object": "thread", "created_at": int(time.time()), "metadata": {},
            "tool_resources": {}, **fields}


def make_message(thread_id: str, text: str = "hi", **fields: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"id": new_id("msg"), "object": "thread.message", "created_at": now, "assistant_id": None,
            "thread_id": thread_id, "run_id": None, "role": "user",
            "content": [{"type": "text", "text": {"value": text, "annotations": []}}], "attachments": [],
            "metadata": {}, "status": "completed", "incomplete_details": None, "completed_at": now,
            "incomplete_at": None, **fields}


def make_run(thread_id: str, assistant_id: str = "asst_x", status: str = "queued", **fields: Any) -> dict[str, Any]:
    return {"id": new_id("run"), "object": "thread.run", "created_at": int(time.time()),
            "assistant_id": assistant_id, "thread_id": thread_id, "status": status, "started_at": None,
            "expires_at": None, "cancelled_at": None, "failed_at": None, "completed_at": None,
            "last_error": None, "model": "m", "instructions": "", "tools": [], "metadata": {},
            "incomplete_details": None, "usage": None, "temperature": 1.0, "top_p": 1.0,
            "max_prompt_tokens": None, "max_completion_tokens": None,
            "truncation_strategy": {"type": "auto", "last_messages": None}, "response_format": "auto",
            "tool_choice": "auto", "parallel_tool_calls": True, "required_action": None, **fields}


def make_job(kind: str = "test.echo", payload: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {"id": new_id("job"), "object": "job", "kind": kind, "status": "running", "attempt": 1,
            "created_at": int(time.time()), "finished_at": None, "cancel_requested": False,
            "payload": payload if payload is not None else {"n": 1}, "last_error": None, **fields}


def make_step(thread_id: str, run_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": new_id("step"), "object": "thread.run.step", "created_at": int(time.time()),
            "run_id": run_id, "assistant_id": "asst_x", "thread_id": thread_id, "type": "tool_calls",
            "status": "in_progress", "cancelled_at": None, "completed_at": None, "expired_at": None,
            "failed_at": None, "last_error": None,
            "step_details": {"type": "tool_calls", "tool_calls": []}, "usage": None, "metadata": None,
            **fields}


T = TypeVar("T")


def found(value: T | None) -> T:
    """``value``, which a read must have found (not None)."""
    assert value is not None, "not found"
    return value


def make_file(purpose: str = "assistants", **fields: Any) -> dict[str, Any]:
    return {"id": new_file_id(), "object": "file", "bytes": 3,
            "created_at": int(time.time()), "filename": "a.txt", "purpose": purpose, "status": "processed",
            "expires_at": None, "status_details": None, **fields}


def make_upload(**fields: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"id": new_id("upload"), "object": "upload", "bytes": 10, "created_at": now,
            "expires_at": now + 3600, "filename": "big.bin", "purpose": "assistants", "status": "pending",
            "file": None, **fields}


def make_part(upload_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": new_id("part"), "object": "upload.part", "created_at": int(time.time()),
            "upload_id": upload_id, **fields}


def code_interpreter(*file_ids: str) -> dict[str, Any]:
    return {"code_interpreter": {"file_ids": list(file_ids)}}


def ids(page: Any) -> list[str]:
    return ids_of(page.data)


def ids_of(objects: list[Any]) -> list[str]:
    return [o["id"] for o in objects]


class StorageAdapterTests(Kit, standard=True):
    """Subclass and provide an async fixture ``storage_adapter`` yielding an empty store."""

    @fixture
    async def storage_adapter(self) -> StorageAdapter:  # pragma: no cover - subclasses override
        raise NotImplementedError("provide a `storage_adapter` fixture yielding an empty store")

    async def _thread_with_messages(self, s: StorageAdapter, n: int) -> tuple[str, list[str]]:
        thread = make_thread()
        messages = [make_message(thread["id"], f"m{i}") for i in range(n)]
        await s.create_thread(thread, messages[:2])
        for m in messages[2:]:
            await s.create_message(m)
        return thread["id"], [m["id"] for m in messages]

    # -- objects round-trip exactly ------------------------------------------------------------
    async def test_assistant_round_trip(self, storage_adapter: StorageAdapter) -> None:
        a = make_assistant(name="n", tools=[{"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "properties": {"x": {"type": "array", "items": {"type": "string"}}}}}}],
            metadata={"k": "v"}, response_format={"type": "json_schema", "json_schema": {"name": "s"}},
            temperature=0.25, instructions="ünïcode ✓ \"quoted\"\n")
        await storage_adapter.create_assistant(a)
        assert await storage_adapter.get_assistant(a["id"]) == a

    async def test_unknown_ids(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        assert await s.get_assistant("asst_missing") is None
        assert await s.update_assistant("asst_missing", {"name": "x"}) is None
        assert await s.delete_assistant("asst_missing") is False
        assert await s.get_thread("thread_missing") is None
        assert await s.update_thread("thread_missing", {"metadata": {}}) is None
        assert await s.delete_thread("thread_missing") is False
        assert await s.get_message("thread_missing", "msg_missing") is None
        assert await s.get_run("thread_missing", "run_missing") is None
        assert await s.get_step("thread_missing", "run_missing", "step_missing") is None
        page = await s.list_messages("thread_missing", ListQuery())
        assert page.data == [] and page.has_more is False

    async def test_update_merges_top_level_fields(self, storage_adapter: StorageAdapter) -> None:
        a = make_assistant(name="before", description="kept")
        await storage_adapter.create_assistant(a)
        updated = await storage_adapter.update_assistant(a["id"], {"name": "after", "metadata": {"x": "1"}})
        assert updated == {**a, "name": "after", "metadata": {"x": "1"}}
        assert await storage_adapter.get_assistant(a["id"]) == updated

    async def test_delete_assistant(self, storage_adapter: StorageAdapter) -> None:
        a = make_assistant()
        await storage_adapter.create_assistant(a)
        assert await storage_adapter.delete_assistant(a["id"]) is True
        assert await storage_adapter.get_assistant(a["id"]) is None
        assert await storage_adapter.delete_assistant(a["id"]) is False

    async def test_projects_round_trip_and_filter_assistant_lists(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        mine = [make_assistant(project="p1") for _ in range(3)]
        theirs = make_assistant(project="p2")
        unscoped = [make_assistant(), make_assistant(project=None)]
        for a in (mine[0], unscoped[0], theirs, mine[1], unscoped[1], mine[2]):
            await s.create_assistant(a)
        first = await s.list_assistants(ListQuery(limit=2, order="asc"), project="p1")
        assert ids(first) == [a["id"] for a in mine[:2]] and first.has_more
        rest = await s.list_assistants(ListQuery(order="asc", after=mine[1]["id"]), project="p1")
        assert ids(rest) == [mine[2]["id"]] and not rest.has_more
        assert ids(await s.list_assistants(ListQuery(), project="p2")) == [theirs["id"]]
        assert ids(await s.list_assistants(ListQuery(order="asc"))) == [a["id"] for a in unscoped]
        assert ids(await s.list_assistants(ListQuery(), project="nobody")) == []
        assert await s.get_assistant(mine[0]["id"]) == mine[0]
        updated = await s.update_assistant(mine[0]["id"], {"name": "renamed"})
        assert updated == {**mine[0], "name": "renamed"}
        assert (await s.list_assistants(ListQuery(order="asc"), project="p1")).data[0] == updated
        assert await s.delete_assistant(mine[0]["id"]) is True
        assert ids(await s.list_assistants(ListQuery(order="asc"), project="p1")) == [a["id"] for a in mine[1:]]
        thread = make_thread(project="p1")
        await s.create_thread(thread, [])
        assert await s.get_thread(thread["id"]) == thread

    async def test_thread_with_messages(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread = make_thread(metadata={"a": "b"})
        messages = [make_message(thread["id"], "one"), make_message(thread["id"], "two")]
        assert await s.create_thread(thread, messages) == thread
        assert await s.get_thread(thread["id"]) == thread
        page = await s.list_messages(thread["id"], ListQuery(order="asc"))
        assert page.data == messages

    async def test_message_update_and_delete(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, message_ids = await self._thread_with_messages(s, 3)
        updated = await s.update_message(thread_id, message_ids[1], {"metadata": {"k": "v"}})
        assert updated is not None and updated["metadata"] == {"k": "v"}
        assert found(await s.get_message(thread_id, message_ids[1]))["metadata"] == {"k": "v"}
        assert await s.delete_message(thread_id, message_ids[1]) is True
        assert await s.get_message(thread_id, message_ids[1]) is None
        assert ids(await s.list_messages(thread_id, ListQuery(order="asc"))) == [message_ids[0], message_ids[2]]
        assert await s.delete_message(thread_id, message_ids[1]) is False

    async def test_messages_are_scoped_to_their_thread(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        t1, m1 = await self._thread_with_messages(s, 2)
        t2, m2 = await self._thread_with_messages(s, 2)
        assert await s.get_message(t2, m1[0]) is None
        assert ids(await s.list_messages(t2, ListQuery(order="asc"))) == m2

    async def test_delete_thread_cascades(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, message_ids = await self._thread_with_messages(s, 2)
        run = make_run(thread_id, status="completed")
        await s.create_run(run, [])
        step = make_step(thread_id, run["id"])
        await s.create_step(step)
        assert await s.delete_thread(thread_id) is True
        assert await s.get_thread(thread_id) is None
        assert await s.get_message(thread_id, message_ids[0]) is None
        assert await s.get_run(thread_id, run["id"]) is None
        assert await s.get_step(thread_id, run["id"], step["id"]) is None
        assert (await s.list_messages(thread_id, ListQuery())).data == []
        assert (await s.list_runs(thread_id, ListQuery())).data == []

    # -- pagination ----------------------------------------------------------------------------
    async def test_paging_in_both_orders(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, m = await self._thread_with_messages(s, 7)
        lst = s.list_messages

        page = await lst(thread_id, ListQuery(limit=3, order="asc"))
        assert ids(page) == m[0:3] and page.has_more
        page = await lst(thread_id, ListQuery(limit=3, order="asc", after=m[2]))
        assert ids(page) == m[3:6] and page.has_more
        page = await lst(thread_id, ListQuery(limit=3, order="asc", after=m[5]))
        assert ids(page) == m[6:7] and not page.has_more

        desc = list(reversed(m))
        page = await lst(thread_id, ListQuery(limit=3))
        assert ids(page) == desc[0:3] and page.has_more
        page = await lst(thread_id, ListQuery(limit=3, after=desc[2]))
        assert ids(page) == desc[3:6] and page.has_more
        page = await lst(thread_id, ListQuery(limit=3, after=desc[5]))
        assert ids(page) == desc[6:] and not page.has_more

    async def test_before_returns_the_items_nearest_the_cursor(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, m = await self._thread_with_messages(s, 5)
        lst = s.list_messages
        # desc list is m4 m3 m2 m1 m0; "before m1" is the page preceding m1 in that order.
        page = await lst(thread_id, ListQuery(limit=1, before=m[1]))
        assert ids(page) == [m[2]] and page.has_more
        page = await lst(thread_id, ListQuery(limit=20, before=m[1]))
        assert ids(page) == [m[4], m[3], m[2]] and not page.has_more
        assert ids(await lst(thread_id, ListQuery(before=m[4]))) == []
        page = await lst(thread_id, ListQuery(limit=2, order="asc", before=m[3]))
        assert ids(page) == [m[1], m[2]] and page.has_more
        assert ids(await lst(thread_id, ListQuery(order="asc", before=m[0]))) == []

    async def test_after_and_before_together(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, m = await self._thread_with_messages(s, 6)
        page = await s.list_messages(thread_id, ListQuery(limit=2, order="asc", after=m[0], before=m[5]))
        assert ids(page) == [m[1], m[2]] and page.has_more
        page = await s.list_messages(thread_id, ListQuery(limit=10, order="desc", after=m[5], before=m[1]))
        assert ids(page) == [m[4], m[3], m[2]] and not page.has_more

    async def test_cursor_of_a_deleted_object_still_pages(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, m = await self._thread_with_messages(s, 4)
        await s.delete_message(thread_id, m[1])
        page = await s.list_messages(thread_id, ListQuery(order="asc", after=m[1]))
        assert ids(page) == [m[2], m[3]]

    async def test_same_second_objects_keep_creation_order(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        created = [make_assistant(created_at=1_700_000_000) for _ in range(30)]
        for a in created:
            await s.create_assistant(a)
        assert ids(await s.list_assistants(ListQuery(limit=100, order="asc"))) == [a["id"] for a in created]

    async def test_list_messages_by_run(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, m = await self._thread_with_messages(s, 2)
        run = make_run(thread_id, status="in_progress")
        await s.create_run(run, [])
        produced = [make_message(thread_id, "answer", role="assistant", run_id=run["id"]) for _ in range(2)]
        for msg in produced:
            await s.create_message(msg)
        page = await s.list_messages(thread_id, ListQuery(order="asc"), run_id=run["id"])
        assert ids(page) == [p["id"] for p in produced]
        assert (await s.list_messages(thread_id, ListQuery(), run_id="run_other")).data == []

    # -- runs and their invariants -------------------------------------------------------------
    async def test_one_active_run_per_thread(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, _ = await self._thread_with_messages(s, 1)
        first = make_run(thread_id)
        await s.create_run(first, [])
        with pytest.raises(ActiveRunError) as info:
            await s.create_run(make_run(thread_id), [])
        assert info.value.run_id == first["id"]
        with pytest.raises(ActiveRunError):
            await s.create_message(make_message(thread_id))
        assert found(await s.get_active_run(thread_id))["id"] == first["id"]
        await s.update_run(thread_id, first["id"], {"status": "completed"})
        assert await s.get_active_run(thread_id) is None
        await s.create_message(make_message(thread_id))
        await s.create_run(make_run(thread_id), [])

    async def test_run_messages_may_be_added_while_active(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, _ = await self._thread_with_messages(s, 1)
        run = make_run(thread_id, status="in_progress")
        await s.create_run(run, [])
        msg = make_message(thread_id, role="assistant", run_id=run["id"])
        assert await s.create_message(msg) == msg

    async def test_create_run_adds_its_messages_atomically(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, existing = await self._thread_with_messages(s, 1)
        extra = make_message(thread_id, "additional")
        run = make_run(thread_id)
        await s.create_run(run, [extra])
        assert ids(await s.list_messages(thread_id, ListQuery(order="asc"))) == [*existing, extra["id"]]
        rejected = make_message(thread_id, "rejected")
        with pytest.raises(ActiveRunError):
            await s.create_run(make_run(thread_id), [rejected])
        assert await s.get_message(thread_id, rejected["id"]) is None

    async def test_racing_runs_have_one_winner(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, _ = await self._thread_with_messages(s, 1)
        results = await asyncio.gather(*(s.create_run(make_run(thread_id), []) for _ in range(10)),
                                       return_exceptions=True)
        winners = [r for r in results if isinstance(r, dict)]
        assert len(winners) == 1
        assert all(isinstance(r, ActiveRunError) for r in results if not isinstance(r, dict))

    async def test_runs_without_heartbeat_are_orphans(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, _ = await self._thread_with_messages(s, 1)
        other_thread, _ = await self._thread_with_messages(s, 1)
        silent = make_run(thread_id, status="in_progress")
        over = make_run(other_thread, status="completed")
        waiting = make_run(other_thread, status="requires_action")
        for run in (silent, over, waiting):
            await s.create_run(run, [])
        assert await s.claim_lapsed(RUN_LEASE, time.time() - 60) == []  # everyone heartbeated just now
        await asyncio.sleep(0.05)
        cutoff = time.time()
        await asyncio.sleep(0.05)
        assert await s.claim_lapsed(RUN_LEASE, cutoff, scope=other_thread) == []
        assert await s.renew_leases(RUN_LEASE, [silent["id"]]) == []
        assert await s.claim_lapsed(RUN_LEASE, cutoff) == []
        await asyncio.sleep(0.05)
        cutoff = time.time()
        await asyncio.sleep(0.05)
        # requires_action waits for the user and completed is over: neither has a lease to lose.
        claimed = await s.claim_lapsed(RUN_LEASE, cutoff)
        assert ids_of(claimed) == [silent["id"]] and claimed[0]["status"] == "in_progress"
        # The claim renewed the lease: it is nobody else's to take any more.
        assert await s.claim_lapsed(RUN_LEASE, cutoff) == []

    async def test_heartbeat_reports_cancels_and_updates_count_as_heartbeats(self, storage_adapter: StorageAdapter
                                                                              ) -> None:
        s = storage_adapter
        thread_id, _ = await self._thread_with_messages(s, 1)
        run = make_run(thread_id, status="in_progress")
        await s.create_run(run, [])
        await asyncio.sleep(0.05)
        cutoff = time.time()
        await asyncio.sleep(0.05)
        await s.update_run(thread_id, run["id"], {"status": "cancelling"})
        assert await s.claim_lapsed(RUN_LEASE, cutoff) == []
        assert await s.renew_leases(RUN_LEASE, [run["id"], "run_unknown"]) == [run["id"]]
        await asyncio.sleep(0.05)
        orphans = await s.claim_lapsed(RUN_LEASE, time.time(), scope=thread_id)
        assert ids_of(orphans) == [run["id"]] and orphans[0]["status"] == "cancelling"

    async def test_racing_claims_take_each_lapsed_lease_once(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        run_ids, job_ids = [], []
        for _ in range(3):
            thread_id, _ = await self._thread_with_messages(s, 1)
            run_ids.append((await s.create_run(make_run(thread_id, status="in_progress"), []))["id"])
            job_ids.append((await s.create_job(make_job()))["id"])
        await asyncio.sleep(0.05)
        cutoff = time.time()
        for kind, expected in ((RUN_LEASE, run_ids), ("test.echo", job_ids)):
            claims = await asyncio.gather(*(s.claim_lapsed(kind, cutoff) for _ in range(4)))
            taken = [o["id"] for claim in claims for o in claim]
            assert sorted(taken) == sorted(expected)  # every one once: never by two claimers
        # Each job was claimed once: its attempt went from 1 to 2.
        assert [found(await s.get_job(j))["attempt"] for j in job_ids] == [2, 2, 2]

    async def test_a_job_lease_is_renewed_claimed_and_reports_cancels(self, storage_adapter: StorageAdapter
                                                                      ) -> None:
        s = storage_adapter
        job = make_job(payload={"files": ["a", "b"], "done": 0})
        assert await s.create_job(job) == job
        assert await s.get_job(job["id"]) == job
        assert await s.get_job("job_unknown") is None
        other = await s.create_job(make_job(kind="test.other"))
        await asyncio.sleep(0.05)
        cutoff = time.time()
        assert await s.renew_leases("test.echo", [(job["id"], 1), ("job_unknown", 1)]) == []
        assert await s.claim_lapsed("test.echo", cutoff) == []  # just renewed
        assert ids_of(await s.claim_lapsed("test.other", cutoff)) == [other["id"]]  # kinds are apart
        cancelled = found(await s.cancel_job(job["id"]))
        assert cancelled["cancel_requested"] is True and cancelled["status"] == "running"
        assert await s.renew_leases("test.echo", [(job["id"], 1)]) == [job["id"]]
        assert await s.cancel_job("job_unknown") is None
        await asyncio.sleep(0.05)
        [claimed] = await s.claim_lapsed("test.echo", time.time())
        assert claimed == {**job, "attempt": 2, "cancel_requested": True}

    async def test_only_the_current_holder_writes_a_job(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        job = await s.create_job(make_job(payload={"done": 0}))
        progressed = await s.update_job(job["id"], 1, {"payload": {"done": 1}})
        assert progressed == {**job, "payload": {"done": 1}}
        await asyncio.sleep(0.05)
        [claimed] = await s.claim_lapsed("test.echo", time.time())  # the first holder was too slow
        assert claimed["attempt"] == 2 and claimed["payload"] == {"done": 1}  # resumes from the checkpoint
        assert await s.update_job(job["id"], 1, {"payload": {"done": 2}}) is None  # the old holder: refused
        assert await s.update_job(job["id"], 1, {"status": "completed", "finished_at": 1}) is None
        assert await s.update_job("job_unknown", 1, {"payload": {}}) is None
        ended = {"status": "failed", "finished_at": 5,
                 "last_error": {"code": "server_error", "message": "no"}}
        finished = await s.update_job(job["id"], 2, ended)
        assert finished == {**job, "attempt": 2, "payload": {"done": 1}, **ended}
        assert await s.get_job(job["id"]) == finished  # kept, for inspection
        assert await s.update_job(job["id"], 2, {"status": "completed"}) is None  # ended: nothing more
        assert found(await s.cancel_job(job["id"]))["status"] == "failed"  # a cancel doesn't revive it
        assert await s.renew_leases("test.echo", [(job["id"], 2)]) == []
        await asyncio.sleep(0.05)
        assert await s.claim_lapsed("test.echo", time.time()) == []  # ended: no lease to lapse

    async def test_only_the_current_attempt_renews_a_job_lease(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        job = await s.create_job(make_job())
        await asyncio.sleep(0.05)
        [claimed] = await s.claim_lapsed("test.echo", time.time())  # the first holder was too slow
        assert claimed["attempt"] == 2
        await s.cancel_job(job["id"])
        await asyncio.sleep(0.05)
        cutoff = time.time()
        await asyncio.sleep(0.05)
        # The first holder still beats: it renews nothing of the new attempt's lease, nor hears of its cancel.
        assert await s.renew_leases("test.echo", [(job["id"], 1)]) == []
        [lapsed] = await s.claim_lapsed("test.echo", cutoff)
        assert lapsed["attempt"] == 3
        await asyncio.sleep(0.05)
        cutoff = time.time()
        await asyncio.sleep(0.05)
        # The current holder's beat renews it (and passes the cancel on).
        assert await s.renew_leases("test.echo", [(job["id"], 3)]) == [job["id"]]
        assert await s.claim_lapsed("test.echo", cutoff) == []

    async def test_conditional_status_transition(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, _ = await self._thread_with_messages(s, 1)
        run = make_run(thread_id, status="in_progress")
        await s.create_run(run, [])
        done = found(await s.update_run(thread_id, run["id"], {"status": "completed"},
                                        expected_status=frozenset({"in_progress"})))
        assert done["status"] == "completed"
        with pytest.raises(StaleStatusError) as info:
            await s.update_run(thread_id, run["id"], {"status": "cancelled"},
                               expected_status=frozenset({"in_progress", "cancelling"}))
        assert info.value.current["status"] == "completed"
        assert found(await s.get_run(thread_id, run["id"]))["status"] == "completed"

    async def test_thread_steps_span_runs_in_id_order(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, _ = await self._thread_with_messages(s, 1)
        other_thread, _ = await self._thread_with_messages(s, 1)
        first, second = make_run(thread_id, status="completed"), make_run(thread_id, status="completed")
        other_run = make_run(other_thread, status="completed")
        for run in (first, second, other_run):
            await s.create_run(run, [])
        message_step = {"type": "message_creation", "step_details": {
            "type": "message_creation", "message_creation": {"message_id": "msg_x"}}}
        made = [make_step(thread_id, first["id"]), make_step(thread_id, first["id"], **message_step),
                make_step(thread_id, second["id"]), make_step(other_thread, other_run["id"]),
                make_step(thread_id, second["id"], **message_step), make_step(thread_id, second["id"])]
        for step in made:
            await s.create_step(step)
        mine = [x for x in made if x["thread_id"] == thread_id]
        tool_steps = [x for x in mine if x["type"] == "tool_calls"]
        everything = ListQuery(limit=100, order="asc")
        assert ids(await s.list_thread_steps(thread_id, everything)) == ids_of(mine)
        assert ids(await s.list_thread_steps(thread_id, everything, step_type="tool_calls")) == ids_of(tool_steps)
        page = await s.list_thread_steps(thread_id, ListQuery(limit=2, order="desc"), step_type="tool_calls")
        assert ids(page) == ids_of(tool_steps[::-1][:2]) and page.has_more
        after = await s.list_thread_steps(thread_id, ListQuery(limit=100, order="asc", after=tool_steps[0]["id"]),
                                          step_type="tool_calls")
        assert ids(after) == ids_of(tool_steps[1:])
        # An update is seen through the thread-wide list too.
        updated = await s.update_step(thread_id, second["id"], tool_steps[1]["id"], {"status": "completed"})
        listed = await s.list_thread_steps(thread_id, everything, step_type="tool_calls")
        assert listed.data[1] == updated
        assert (await s.list_thread_steps(thread_id, everything, step_type="code_interpreter")).data == []
        # Every field may change, the type too: the step moves to the other type's list.
        moved = found(await s.update_step(thread_id, first["id"], tool_steps[0]["id"], message_step))
        assert ids(await s.list_thread_steps(thread_id, everything, step_type="tool_calls")) == ids_of(tool_steps[1:])
        assert moved["id"] in ids(await s.list_thread_steps(thread_id, everything, step_type="message_creation"))
        assert (await s.list_thread_steps("thread_missing", everything)).data == []

    async def test_runs_and_steps_list_and_update(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread_id, _ = await self._thread_with_messages(s, 1)
        runs: list[dict[str, Any]] = []
        for _ in range(3):
            run = make_run(thread_id, status="completed", metadata={"n": str(len(runs))})
            await s.create_run(run, [])
            runs.append(run)
        assert ids(await s.list_runs(thread_id, ListQuery())) == [r["id"] for r in reversed(runs)]
        assert await s.get_run(thread_id, runs[0]["id"]) == runs[0]
        steps = [make_step(thread_id, runs[0]["id"]) for _ in range(3)]
        for step in steps:
            await s.create_step(step)
        assert ids(await s.list_steps(thread_id, runs[0]["id"], ListQuery(order="asc"))) == [x["id"] for x in steps]
        assert (await s.list_steps(thread_id, runs[1]["id"], ListQuery())).data == []
        details = {"type": "tool_calls", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}", "output": "ok"}}]}
        updated = await s.update_step(thread_id, runs[0]["id"], steps[1]["id"],
                                      {"status": "completed", "step_details": details})
        assert updated == {**steps[1], "status": "completed", "step_details": details}
        assert await s.get_step(thread_id, runs[0]["id"], steps[1]["id"]) == updated
        assert await s.get_step(thread_id, runs[1]["id"], steps[1]["id"]) is None

    # -- files and uploads ---------------------------------------------------------------------------
    async def test_file_round_trip_list_by_project_and_purpose_and_delete(self, storage_adapter: Any) -> None:
        s = storage_adapter
        mine = [make_file("assistants", project="p1"),
                make_file("batch", project="p1", expires_at=2_000_000_000),
                make_file("assistants", project="p1", filename="ünï code.bin", status_details="x")]
        theirs, unscoped = make_file(project="p2"), make_file()
        for f in (mine[0], theirs, mine[1], unscoped, mine[2]):
            assert await s.create_file(f) == f
        assert await s.get_file(mine[2]["id"]) == mine[2]
        assert await s.get_file(unscoped["id"]) == unscoped
        assert await s.get_file("file-missing") is None
        everything = await s.list_files(ListQuery(limit=100), project="p1")
        assert ids(everything) == [f["id"] for f in reversed(mine)] and not everything.has_more
        first = await s.list_files(ListQuery(limit=1, order="asc"), project="p1", purpose="assistants")
        assert ids(first) == [mine[0]["id"]] and first.has_more
        rest = await s.list_files(ListQuery(order="asc", after=mine[0]["id"]), project="p1",
                                  purpose="assistants")
        assert ids(rest) == [mine[2]["id"]] and not rest.has_more
        assert ids(await s.list_files(ListQuery(), project="p1", purpose="batch")) == [mine[1]["id"]]
        assert ids(await s.list_files(ListQuery())) == [unscoped["id"]]
        assert ids(await s.list_files(ListQuery(), project="p2", purpose="batch")) == []
        assert await s.delete_file(mine[0]["id"]) is True
        assert await s.delete_file(mine[0]["id"]) is False
        assert await s.get_file(mine[0]["id"]) is None
        assert ids(await s.list_files(ListQuery(), project="p1", purpose="assistants")) == [mine[2]["id"]]

    async def test_detach_file_takes_it_from_assistants_and_threads_only(self, storage_adapter: Any) -> None:
        s = storage_adapter
        f, other = make_file()["id"], make_file()["id"]
        created = make_assistant(tool_resources=code_interpreter(other, f))
        updated = make_assistant()
        untouched = make_assistant(tool_resources=code_interpreter(other))
        for a in (created, updated, untouched):
            await s.create_assistant(a)
        await s.update_assistant(updated["id"], {"tool_resources": code_interpreter(f)})
        search = {"file_search": {"vector_store_ids": ["vs_1"]}}
        thread = make_thread(tool_resources={**code_interpreter(f), **search})
        later = make_thread()
        gone = make_thread(tool_resources=code_interpreter(f))
        for t in (thread, later, gone):
            await s.create_thread(t, [])
        await s.update_thread(later["id"], {"tool_resources": code_interpreter(f, other)})
        await s.delete_thread(gone["id"])
        moved_on = make_assistant(tool_resources=code_interpreter(f))  # names it, then no more
        await s.create_assistant(moved_on)
        await s.update_assistant(moved_on["id"], {"tool_resources": {}})

        detached = await s.detach_file(f)
        assert sorted(detached) == sorted([created["id"], updated["id"], thread["id"], later["id"]])
        assert (await s.get_assistant(created["id"]))["tool_resources"] == code_interpreter(other)
        assert (await s.get_assistant(updated["id"]))["tool_resources"] == code_interpreter()
        assert await s.get_assistant(untouched["id"]) == untouched
        assert (await s.get_assistant(moved_on["id"]))["tool_resources"] == {}
        assert (await s.get_thread(thread["id"]))["tool_resources"] == {**code_interpreter(), **search}
        assert (await s.get_thread(later["id"]))["tool_resources"] == code_interpreter(other)
        assert await s.get_thread(gone["id"]) is None
        assert await s.detach_file(f) == []
        assert sorted(await s.detach_file(other)) == sorted([created["id"], untouched["id"], later["id"]])

    async def test_upload_parts_are_added_while_pending_only(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        upload = make_upload(project="p1", file_expires_after=7200)
        assert await s.create_upload(upload) == upload
        assert await s.get_upload(upload["id"]) == upload
        assert await s.get_upload("upload_missing") is None
        parts = [make_part(upload["id"], bytes=n) for n in (4, 6)]
        for part in reversed(parts):  # any order in, id order out
            assert await s.add_upload_part(part) == part
        assert await s.list_upload_parts(upload["id"]) == parts
        assert await s.list_upload_parts("upload_missing") == []
        assert await s.add_upload_part(make_part("upload_missing")) is None
        with pytest.raises(StaleStatusError):
            await s.update_upload(upload["id"], {"status": "expired"},
                                  expected_status=frozenset({"completed"}))
        cancelled = await s.update_upload(upload["id"], {"status": "cancelled"},
                                          expected_status=frozenset({"pending"}))
        assert cancelled == {**upload, "status": "cancelled"}
        assert await s.get_upload(upload["id"]) == cancelled
        with pytest.raises(StaleStatusError) as info:
            await s.add_upload_part(make_part(upload["id"]))
        assert info.value.current == cancelled
        assert await s.list_upload_parts(upload["id"]) == parts
        assert await s.update_upload("upload_missing", {"status": "cancelled"}) is None

    async def test_complete_upload_stores_its_file_once(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        upload = make_upload(project="p1")
        await s.create_upload(upload)
        file = make_file(project="p1", bytes=10, filename="big.bin")
        completed = await s.complete_upload(upload["id"], file)
        assert completed == {**upload, "status": "completed", "file": file}
        assert await s.get_upload(upload["id"]) == completed
        assert await s.get_file(file["id"]) == file
        assert ids(await s.list_files(ListQuery(), project="p1")) == [file["id"]]
        again = make_file(project="p1")
        with pytest.raises(StaleStatusError) as info:
            await s.complete_upload(upload["id"], again)
        assert info.value.current["status"] == "completed"
        assert await s.get_file(again["id"]) is None
        assert await s.complete_upload("upload_missing", make_file()) is None

    async def test_racing_completes_and_cancels_have_one_winner(self, storage_adapter: StorageAdapter,
                                                                ) -> None:
        s = storage_adapter
        upload = make_upload()
        await s.create_upload(upload)
        files = [make_file() for _ in range(3)]
        outcomes = await asyncio.gather(
            *(s.complete_upload(upload["id"], f) for f in files),
            s.update_upload(upload["id"], {"status": "cancelled"}, expected_status=frozenset({"pending"})),
            return_exceptions=True)
        winners = [o for o in outcomes if not isinstance(o, StaleStatusError)]
        assert len(winners) == 1 and not isinstance(winners[0], BaseException)
        stored = [f for f in files if await s.get_file(f["id"]) is not None]
        assert len(stored) == (1 if found(winners[0])["status"] == "completed" else 0)

    async def test_expired_uploads_are_listed_those_expired_first_first(self, storage_adapter: StorageAdapter
                                                                       ) -> None:
        s = storage_adapter
        now = int(time.time())
        later, earlier = make_upload(expires_at=now - 100), make_upload(expires_at=now - 200)
        fresh, ended = make_upload(expires_at=now + 3600), make_upload(expires_at=now - 300)
        for upload in (later, earlier, fresh, ended):
            await s.create_upload(upload)
        await s.update_upload(ended["id"], {"status": "cancelled"})
        assert ids_of(await s.list_expired_uploads(now)) == [earlier["id"], later["id"]]
        assert ids_of(await s.list_expired_uploads(now, limit=1)) == [earlier["id"]]
        assert ids_of(await s.list_expired_uploads(now - 150)) == [earlier["id"]]
        await s.update_upload(earlier["id"], {"status": "expired"}, expected_status=frozenset({"pending"}))
        assert ids_of(await s.list_expired_uploads(now + 3600)) == [later["id"], fresh["id"]]
