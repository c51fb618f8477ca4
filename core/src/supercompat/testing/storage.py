"""StorageAdapterTests: the behaviour every StorageAdapter must have."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, TypeVar

from ..files import new_file_id
from ..ids import new_id
from ..storage import RUN_LEASE, ActiveRunError, ListQuery, StaleStatusError, StorageAdapter, file_counts
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


def make_vector_store(**fields: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"id": new_id("vs"), "object": "vector_store", "created_at": now, "name": "docs", "usage_bytes": 0,
            "file_counts": file_counts(), "status": "completed", "last_active_at": now, "metadata": {},
            "expires_after": None, "expires_at": None, **fields}


def make_vector_store_file(store_id: str, file_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """An attachment of a File (a new id unless ``file_id``), with the hidden keys core gives it."""
    return {"id": file_id or new_file_id(), "object": "vector_store.file", "created_at": int(time.time()),
            "usage_bytes": 0, "vector_store_id": store_id, "status": "in_progress", "last_error": None,
            "attributes": {}, "chunking_strategy": {"type": "static", "static": {
                "max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}},
            "filename": "a.txt", "batch_id": None, "job_id": None, **fields}


def make_file_batch(store_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": new_id("vsfb"), "object": "vector_store.files_batch", "created_at": int(time.time()),
            "vector_store_id": store_id, "status": "in_progress", "file_counts": file_counts(), **fields}


HIDDEN_KEYS = frozenset({"project", "embedder", "filename", "batch_id", "job_id"})


def shown_keys(obj: dict[str, Any] | None) -> list[str]:
    """The keys of ``obj`` the API shows, in order (where hidden keys sit is the storage's business)."""
    return [k for k in found(obj) if k not in HIDDEN_KEYS]


def counts(**by_status: int) -> dict[str, int]:
    """A ``file_counts`` object: ``counts(completed=2)``."""
    return file_counts(by_status)


def code_interpreter(*file_ids: str) -> dict[str, Any]:
    return {"code_interpreter": {"file_ids": list(file_ids)}}


def make_conversation(size: int, project: str | None = None) -> tuple[
        dict[str, Any], list[dict[str, Any]], list[tuple[dict[str, Any], list[dict[str, Any]]]]]:
    """A thread of ``size`` messages, user and assistant by turns, and each answer's completed run with
    its two steps (a ``get_weather`` call with its output, then the answer), in the order a real
    conversation creates them (ids sort by creation): (thread, messages, [(run, steps)])."""
    thread = make_thread(project=project, metadata={"messages": str(size)})
    tid = thread["id"]
    messages, runs = [], []
    for turn in range(size // 2):
        city = f"City {turn}"
        messages.append(make_message(tid, f"Turn {turn}: what is the weather in {city} today, and should I "
                                          "take an umbrella?"))
        run = make_run(tid, "asst_conversation", status="completed", model="fake-model",
                       usage={"prompt_tokens": 412, "completion_tokens": 58, "total_tokens": 470})
        now = run["created_at"]
        run.update(started_at=now, completed_at=now)
        weather = {"city": city, "temperature_c": 18, "conditions": "light rain", "wind_kph": 12}
        call = {"id": f"call_{turn:08d}", "type": "function", "function": {
            "name": "get_weather", "arguments": json.dumps({"city": city, "unit": "celsius"}),
            "output": json.dumps(weather)}}
        tool = make_step(tid, run["id"], status="completed", completed_at=now,
                         step_details={"type": "tool_calls", "tool_calls": [call]})
        text = (f"In {city} it is 18 °C with light rain and a light wind (12 km/h). Yes, take an umbrella: "
                "the rain should last into the evening, and it will stay mild.")
        answer = make_message(tid, text, role="assistant", assistant_id="asst_conversation", run_id=run["id"])
        created = {"type": "message_creation", "message_creation": {"message_id": answer["id"]}}
        made = make_step(tid, run["id"], type="message_creation", status="completed", completed_at=now,
                         step_details=created)
        messages.append(answer)
        runs.append((run, [tool, made]))
    return thread, messages, runs


async def store_conversation(storage: StorageAdapter, size: int, project: str | None = None) -> str:
    """:func:`make_conversation` stored; the thread's id."""
    thread, messages, runs = make_conversation(size, project)
    await storage.create_thread(thread, messages)
    for run, steps in runs:
        await storage.create_run(run, [])
        for step in steps:
            await storage.create_step(step)
    return str(thread["id"])


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

    async def test_thread_lists_page_by_project_and_follow_updates_and_deletes(
            self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        mine = [make_thread(project="p1") for _ in range(3)]
        theirs = make_thread(project="p2")
        unscoped = make_thread()
        for t in (mine[0], unscoped, theirs, mine[1], mine[2]):
            await s.create_thread(t, [])
        first = await s.list_threads(ListQuery(limit=2), project="p1")
        assert ids(first) == [mine[2]["id"], mine[1]["id"]] and first.has_more
        rest = await s.list_threads(ListQuery(after=mine[1]["id"]), project="p1")
        assert ids(rest) == [mine[0]["id"]] and not rest.has_more
        assert ids(await s.list_threads(ListQuery(), project="p2")) == [theirs["id"]]
        assert ids(await s.list_threads(ListQuery())) == [unscoped["id"]]
        assert ids(await s.list_threads(ListQuery(), project="nobody")) == []
        updated = await s.update_thread(mine[1]["id"], {"metadata": {"k": "v"}})
        assert (await s.list_threads(ListQuery(limit=2), project="p1")).data[1] == updated
        # a deleted file leaves the thread's tool_resources, in lists too
        file = make_file(project="p1")
        await s.create_file(file)
        uses = {"code_interpreter": {"file_ids": [file["id"]]}}
        await s.update_thread(mine[0]["id"], {"tool_resources": uses})
        await s.detach_file(file["id"])
        listed = (await s.list_threads(ListQuery(order="asc"), project="p1")).data[0]
        assert listed == await s.get_thread(mine[0]["id"])
        assert listed["tool_resources"]["code_interpreter"]["file_ids"] == []
        assert await s.delete_thread(mine[2]["id"])
        assert ids(await s.list_threads(ListQuery(order="asc"), project="p1")) == [mine[0]["id"], mine[1]["id"]]

    async def test_thread_with_messages(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        thread = make_thread(metadata={"a": "b"})
        messages = [make_message(thread["id"], "one"), make_message(thread["id"], "two")]
        assert await s.create_thread(thread, messages) == thread
        assert await s.get_thread(thread["id"]) == thread
        page = await s.list_messages(thread["id"], ListQuery(order="asc"))
        assert page.data == messages

    async def test_thread_update_compares_and_sets(self, storage_adapter: StorageAdapter) -> None:
        """``expected``: of two writers that read the same thread, the second finds it changed."""
        s = storage_adapter
        thread = make_thread(tool_resources={"code_interpreter": {"file_ids": ["file-a"]}})
        await s.create_thread(thread, [])
        read = found(await s.get_thread(thread["id"]))
        first = {"file_search": {"vector_store_ids": ["vs_first"]}}
        second = {"file_search": {"vector_store_ids": ["vs_second"]}}
        updated = await s.update_thread(thread["id"], {"tool_resources": first},
                                        expected={"tool_resources": read["tool_resources"]})
        assert found(updated)["tool_resources"] == first
        with pytest.raises(StaleStatusError) as stale:
            await s.update_thread(thread["id"], {"tool_resources": second},
                                  expected={"tool_resources": read["tool_resources"]})
        assert stale.value.current["tool_resources"] == first
        assert found(await s.get_thread(thread["id"]))["tool_resources"] == first
        assert await s.update_thread("thread_missing", {"metadata": {}}, expected={"metadata": {}}) is None

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

    # -- vector stores ---------------------------------------------------------------------------
    async def test_vector_store_round_trip_with_derived_counts(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        # What a caller passes for the derived fields is ignored; the hidden keys round-trip.
        store = make_vector_store(project="p1", embedder={"name": "hashing", "dimensions": 256},
                                  usage_bytes=999, file_counts=counts(failed=7), metadata={"k": "v"},
                                  expires_after={"anchor": "last_active_at", "days": 2},
                                  expires_at=2_000_000_000)
        sid = store["id"]
        files = [make_vector_store_file(sid, status="completed", usage_bytes=100),
                 make_vector_store_file(sid, status="completed", usage_bytes=20,
                                        attributes={"n": 1.5, "b": True}),
                 make_vector_store_file(sid, status="failed",
                                        last_error={"code": "invalid_file", "message": "no"}),
                 make_vector_store_file(sid, job_id="job_1", filename="ünï.md")]
        expected = {**store, "usage_bytes": 120, "file_counts": counts(completed=2, failed=1, in_progress=1)}
        created = await s.create_vector_store(store, files)
        assert created == expected and shown_keys(created) == shown_keys(expected)  # the API's key order too
        got = await s.get_vector_store(sid)
        assert got == expected and shown_keys(got) == shown_keys(expected)
        for f in files:
            got_file = await s.get_vector_store_file(sid, f["id"])
            assert got_file == f and shown_keys(got_file) == shown_keys(f)
        page = await s.list_vector_store_files(sid, ListQuery(order="asc"))
        assert page.data == files and not page.has_more
        empty = make_vector_store(name=None)
        assert await s.create_vector_store(empty, []) == {**empty, "usage_bytes": 0, "file_counts": counts()}

    async def test_vector_store_unknown_ids(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        store = make_vector_store()
        await s.create_vector_store(store, [])
        sid = store["id"]
        assert await s.get_vector_store("vs_missing") is None
        assert await s.update_vector_store("vs_missing", {"name": "x"}) is None
        assert await s.delete_vector_store("vs_missing") is False
        assert await s.attach_files("vs_missing", [make_vector_store_file("vs_missing")]) is None
        assert await s.attach_files("vs_missing", [], batch=make_file_batch("vs_missing")) is None
        assert await s.get_file_batch("vs_missing", "vsfb_missing") is None
        assert await s.get_vector_store_file(sid, "file-missing") is None
        assert await s.get_vector_store_file("vs_missing", "file-missing") is None
        assert await s.update_vector_store_file(sid, "file-missing", {"status": "completed"}) is None
        assert await s.update_vector_store_file(sid, "file-missing", {"status": "completed"},
                                                expected_status=frozenset({"in_progress"})) is None
        assert await s.detach_vector_store_file(sid, "file-missing") is False
        assert await s.detach_vector_store_file("vs_missing", "file-missing") is False
        assert (await s.list_vector_store_files("vs_missing", ListQuery())).data == []
        assert await s.vector_stores_of_file("file-missing") == []
        assert await s.get_file_batch(sid, "vsfb_missing") is None
        assert await s.cancel_file_batch(sid, "vsfb_missing") is None
        assert await s.cancel_file_batch("vs_missing", "vsfb_missing") is None

    async def test_vector_stores_update_and_list_by_project(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        mine = [make_vector_store(project="p1", name=f"s{i}") for i in range(3)]
        theirs, unscoped = make_vector_store(project="p2"), make_vector_store()
        for store in (mine[0], theirs, mine[1], unscoped, mine[2]):
            await s.create_vector_store(store, [])
        await s.attach_files(mine[1]["id"], [make_vector_store_file(mine[1]["id"], usage_bytes=5,
                                                                    status="completed")])
        shown_1 = {**mine[1], "usage_bytes": 5, "file_counts": counts(completed=1)}
        first = await s.list_vector_stores(ListQuery(limit=2), project="p1")
        assert first.data == [{**mine[2], "file_counts": counts()}, shown_1] and first.has_more
        rest = await s.list_vector_stores(ListQuery(limit=2, after=mine[1]["id"]), project="p1")
        assert ids(rest) == [mine[0]["id"]] and not rest.has_more
        back = await s.list_vector_stores(ListQuery(limit=1, order="asc", before=mine[2]["id"]), project="p1")
        assert back.data == [shown_1] and back.has_more
        assert ids(await s.list_vector_stores(ListQuery())) == [unscoped["id"]]
        assert ids(await s.list_vector_stores(ListQuery(), project="p2")) == [theirs["id"]]
        assert ids(await s.list_vector_stores(ListQuery(), project="nobody")) == []
        changes = {"name": "renamed", "metadata": {"a": "b"}, "status": "in_progress", "last_active_at": 5,
                   "embedder": "hashing",
                   "usage_bytes": 1, "file_counts": counts(failed=1)}  # these two are ignored
        updated = await s.update_vector_store(mine[1]["id"], changes)
        expected = {**shown_1, **changes, "usage_bytes": 5, "file_counts": counts(completed=1)}
        assert updated == expected and shown_keys(updated) == shown_keys(expected)
        assert await s.get_vector_store(mine[1]["id"]) == expected
        listed = await s.list_vector_stores(ListQuery(limit=1, after=mine[2]["id"]), project="p1")
        assert listed.data == [expected]

    async def test_a_store_moved_to_another_project_is_listed_in_it(self, storage_adapter: Any) -> None:
        s = storage_adapter
        stores = [make_vector_store(project="p1") for _ in range(2)]
        for store in stores:
            await s.create_vector_store(store, [])
        moved = await s.update_vector_store(stores[0]["id"], {"project": "p2"})
        assert moved == {**stores[0], "project": "p2"}
        assert (await s.list_vector_stores(ListQuery(), project="p2")).data == [moved]
        assert ids(await s.list_vector_stores(ListQuery(), project="p1")) == [stores[1]["id"]]
        unscoped = await s.update_vector_store(stores[0]["id"], {"project": None})
        assert unscoped == {**stores[0], "project": None}
        assert ids(await s.list_vector_stores(ListQuery())) == [stores[0]["id"]]
        assert ids(await s.list_vector_stores(ListQuery(), project="p2")) == []

    async def test_attach_files_leaves_attached_files_alone(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        store, other = make_vector_store(), make_vector_store()
        first = make_vector_store_file(store["id"], status="completed", usage_bytes=10)
        await s.create_vector_store(store, [first])
        await s.create_vector_store(other, [])
        sid = store["id"]
        again = make_vector_store_file(sid, first["id"], attributes={"replaced": True})
        fresh = make_vector_store_file(sid)
        batch = make_file_batch(sid)
        in_batch = {**fresh, "batch_id": batch["id"]}
        attached = await s.attach_files(sid, [in_batch, {**again, "batch_id": batch["id"]}, in_batch],
                                        batch=batch)
        assert attached == [in_batch, first, in_batch]
        assert await s.get_vector_store_file(sid, first["id"]) == first
        # The batch counts only the files it attached; the store counts them all.
        assert await s.get_file_batch(sid, batch["id"]) == {**batch, "file_counts": counts(in_progress=1)}
        assert await s.get_file_batch(other["id"], batch["id"]) is None  # batches belong to their store
        assert found(await s.get_vector_store(sid))["file_counts"] == counts(in_progress=1, completed=1)
        # One File attached to two stores: each attachment is its own.
        elsewhere = make_vector_store_file(other["id"], first["id"], status="in_progress", usage_bytes=3)
        assert await s.attach_files(other["id"], [elsewhere]) == [elsewhere]
        assert await s.get_vector_store_file(sid, first["id"]) == first
        assert await s.vector_stores_of_file(first["id"]) == sorted([sid, other["id"]])
        assert await s.vector_stores_of_file(fresh["id"]) == [sid]
        assert found(await s.get_vector_store(other["id"]))["usage_bytes"] == 3
        assert found(await s.get_vector_store(sid))["usage_bytes"] == 10
        assert await s.attach_files(sid, []) == []

    async def test_vector_store_files_change_status_conditionally(self, storage_adapter: StorageAdapter
                                                                  ) -> None:
        s = storage_adapter
        store = make_vector_store()
        sid = store["id"]
        file = make_vector_store_file(sid)
        await s.create_vector_store(store, [file])
        in_progress = frozenset({"in_progress"})
        done = await s.update_vector_store_file(sid, file["id"], {"status": "completed", "usage_bytes": 42},
                                                expected_status=in_progress)
        assert done == {**file, "status": "completed", "usage_bytes": 42}
        with pytest.raises(StaleStatusError) as info:
            await s.update_vector_store_file(sid, file["id"], {"status": "cancelled"},
                                             expected_status=in_progress)
        assert info.value.current == done
        assert await s.get_vector_store_file(sid, file["id"]) == done
        shown = found(await s.get_vector_store(sid))
        assert (shown["file_counts"], shown["usage_bytes"]) == (counts(completed=1), 42)
        # Any key may change, hidden ones too.
        changes = {"attributes": {"k": "v"}, "job_id": "job_2", "batch_id": "vsfb_x"}
        moved = await s.update_vector_store_file(sid, file["id"], changes)
        assert moved == {**done, "attributes": {"k": "v"}, "job_id": "job_2", "batch_id": "vsfb_x"}
        assert await s.get_vector_store_file(sid, file["id"]) == moved
        assert ids(await s.list_vector_store_files(sid, ListQuery(), batch_id="vsfb_x")) == [file["id"]]
        back = await s.update_vector_store_file(sid, file["id"], {"batch_id": None})
        assert await s.get_vector_store_file(sid, file["id"]) == back == {**moved, "batch_id": None}
        assert (await s.list_vector_store_files(sid, ListQuery(), batch_id="vsfb_x")).data == []

    async def test_vector_store_files_end_only_for_the_job_that_ingests_them(
            self, storage_adapter: StorageAdapter) -> None:
        # A regression: a file detached and attached again (a new job) could be ended by the earlier
        # attachment's job, still running in a process that had not yet seen its cancel.
        s = storage_adapter
        store = make_vector_store()
        sid = store["id"]
        file = make_vector_store_file(sid, job_id="job_new")
        await s.create_vector_store(store, [file])
        in_progress = frozenset({"in_progress"})
        with pytest.raises(StaleStatusError) as info:
            await s.update_vector_store_file(sid, file["id"], {"status": "completed", "usage_bytes": 9},
                                             expected_status=in_progress, expected_job="job_old")
        assert info.value.current == file
        assert await s.get_vector_store_file(sid, file["id"]) == file
        done = await s.update_vector_store_file(sid, file["id"], {"status": "completed", "usage_bytes": 9},
                                                expected_status=in_progress, expected_job="job_new")
        assert done == {**file, "status": "completed", "usage_bytes": 9}
        assert await s.get_vector_store_file(sid, file["id"]) == done
        assert await s.update_vector_store_file(sid, "file-missing", {"status": "failed"},
                                                expected_job="job_new") is None

    async def test_vector_store_files_list_by_status_and_batch(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        store = make_vector_store()
        sid = store["id"]
        await s.create_vector_store(store, [])
        batch = make_file_batch(sid)
        statuses = ["completed", "in_progress", "completed", "failed", "completed", "completed"]
        files = [make_vector_store_file(sid, status=st, batch_id=batch["id"] if i % 2 == 0 else None)
                 for i, st in enumerate(statuses)]
        await s.attach_files(sid, [f for f in files if f["batch_id"]], batch=batch)
        await s.attach_files(sid, [f for f in files if not f["batch_id"]])
        lst = s.list_vector_store_files
        done = [f["id"] for f in files if f["status"] == "completed"]  # 0 2 4 5
        page = await lst(sid, ListQuery(limit=2, order="asc"), status="completed")
        assert ids(page) == done[:2] and page.has_more
        page = await lst(sid, ListQuery(limit=2, order="asc", after=done[1]), status="completed")
        assert ids(page) == done[2:] and not page.has_more
        page = await lst(sid, ListQuery(limit=3), status="completed")
        assert ids(page) == done[::-1][:3] and page.has_more
        page = await lst(sid, ListQuery(limit=3, after=done[1]), status="completed")
        assert ids(page) == [done[0]] and not page.has_more
        page = await lst(sid, ListQuery(limit=1, before=done[1]), status="completed")
        assert ids(page) == [done[2]] and page.has_more
        page = await lst(sid, ListQuery(limit=5, order="asc", before=done[3]), status="completed")
        assert ids(page) == done[:3] and not page.has_more
        in_batch = [f["id"] for f in files if f["batch_id"]]  # 0 2 4, all completed
        assert ids(await lst(sid, ListQuery(order="asc"), batch_id=batch["id"])) == in_batch
        page = await lst(sid, ListQuery(limit=1, order="desc", after=in_batch[2]), batch_id=batch["id"],
                         status="completed")
        assert ids(page) == [in_batch[1]] and page.has_more
        assert ids(await lst(sid, ListQuery(), batch_id=batch["id"], status="failed")) == []
        assert ids(await lst(sid, ListQuery(), status="failed")) == [files[3]["id"]]
        assert ids(await lst(sid, ListQuery(), status="cancelled")) == []
        assert ids(await lst(sid, ListQuery(), batch_id="vsfb_other")) == []
        assert ids(await lst(sid, ListQuery(limit=100, order="asc"))) == ids_of(files)
        assert await s.get_file_batch(sid, batch["id"]) == {**batch, "file_counts": counts(completed=3)}

    async def test_detaching_a_file_and_deleting_a_store(self, storage_adapter: StorageAdapter) -> None:
        s = storage_adapter
        store, kept = make_vector_store(), make_vector_store()
        sid = store["id"]
        batch = make_file_batch(sid)
        files = [make_vector_store_file(sid, status="completed", usage_bytes=7, batch_id=batch["id"])
                 for _ in range(3)]
        await s.create_vector_store(store, [])
        await s.attach_files(sid, files, batch=batch)
        await s.create_vector_store(kept, [make_vector_store_file(kept["id"], files[0]["id"])])
        assert await s.detach_vector_store_file(sid, files[1]["id"]) is True
        assert await s.detach_vector_store_file(sid, files[1]["id"]) is False
        assert await s.get_vector_store_file(sid, files[1]["id"]) is None
        assert await s.vector_stores_of_file(files[1]["id"]) == []
        shown = found(await s.get_vector_store(sid))
        assert (shown["file_counts"], shown["usage_bytes"]) == (counts(completed=2), 14)
        assert found(await s.get_file_batch(sid, batch["id"]))["file_counts"] == counts(completed=2)
        left = await s.list_vector_store_files(sid, ListQuery(order="asc"))
        assert ids(left) == [files[0]["id"], files[2]["id"]]

        assert await s.delete_vector_store(sid) is True
        assert await s.delete_vector_store(sid) is False
        assert await s.get_vector_store(sid) is None
        assert await s.get_vector_store_file(sid, files[0]["id"]) is None
        assert (await s.list_vector_store_files(sid, ListQuery())).data == []
        assert await s.get_file_batch(sid, batch["id"]) is None
        assert await s.attach_files(sid, [make_vector_store_file(sid)]) is None
        assert await s.vector_stores_of_file(files[0]["id"]) == [kept["id"]]  # the other store keeps it
        assert await s.vector_stores_of_file(files[2]["id"]) == []
        assert ids(await s.list_vector_stores(ListQuery())) == [kept["id"]]
        assert found(await s.get_vector_store(kept["id"]))["file_counts"] == counts(in_progress=1)

    async def test_cancel_file_batch_cancels_its_unfinished_files_once(self, storage_adapter: StorageAdapter
                                                                       ) -> None:
        s = storage_adapter
        store = make_vector_store()
        sid = store["id"]
        await s.create_vector_store(store, [])
        outside = make_vector_store_file(sid)
        await s.attach_files(sid, [outside])
        batch = make_file_batch(sid)
        files = [make_vector_store_file(sid, batch_id=batch["id"]) for _ in range(4)]
        await s.attach_files(sid, [outside, *files], batch=batch)  # outside: attached before, not the batch's
        await s.update_vector_store_file(sid, files[0]["id"], {"status": "completed", "usage_bytes": 9})
        await s.update_vector_store_file(sid, files[1]["id"], {"status": "failed"})
        cancelled = await s.cancel_file_batch(sid, batch["id"])
        expected = {**batch, "status": "cancelled", "file_counts": counts(completed=1, failed=1, cancelled=2)}
        assert cancelled == expected and shown_keys(cancelled) == shown_keys(expected)
        assert await s.get_file_batch(sid, batch["id"]) == expected
        assert [found(await s.get_vector_store_file(sid, f["id"]))["status"] for f in files] == [
            "completed", "failed", "cancelled", "cancelled"]
        assert found(await s.get_vector_store_file(sid, outside["id"]))["status"] == "in_progress"
        assert found(await s.get_vector_store(sid))["file_counts"] == counts(
            in_progress=1, completed=1, failed=1, cancelled=2)
        assert await s.cancel_file_batch(sid, batch["id"]) == expected  # again: unchanged
        # A batch that finished is returned unchanged, its files too.
        finished = make_file_batch(sid, status="completed")
        late = make_vector_store_file(sid, batch_id=finished["id"])
        await s.attach_files(sid, [late], batch=finished)
        unchanged = {**finished, "file_counts": counts(in_progress=1)}
        assert await s.cancel_file_batch(sid, finished["id"]) == unchanged
        assert found(await s.get_vector_store_file(sid, late["id"]))["status"] == "in_progress"
        assert await s.cancel_file_batch(make_vector_store()["id"], batch["id"]) is None

    async def test_concurrent_attaches_and_ingestions_keep_counts_exact(self, storage_adapter: StorageAdapter
                                                                        ) -> None:
        s = storage_adapter
        store = make_vector_store()
        sid = store["id"]
        await s.create_vector_store(store, [])
        singles = [make_vector_store_file(sid, usage_bytes=1) for _ in range(150)]
        batches = [make_file_batch(sid) for _ in range(50)]
        batched = {b["id"]: [make_vector_store_file(sid, usage_bytes=1, batch_id=b["id"]) for _ in range(2)]
                   for b in batches}
        # Attached by every batch too, kept by the first to land only (done already: no cancel touches it).
        shared = make_vector_store_file(sid, usage_bytes=1, status="completed")
        attaches = [s.attach_files(sid, [f]) for f in singles]
        attaches += [s.attach_files(sid, [*batched[b["id"]], {**shared, "batch_id": b["id"]}], batch=b)
                     for b in batches]
        await asyncio.gather(*attaches)  # 200 at once
        total = len(singles) + 2 * len(batches) + 1
        shown = found(await s.get_vector_store(sid))
        assert shown["file_counts"] == counts(in_progress=total - 1, completed=1)
        assert shown["usage_bytes"] == total
        owner = found(await s.get_vector_store_file(sid, shared["id"]))["batch_id"]
        assert owner in batched

        # Ingestions ending at once, racing batch cancels: each file ends once, and the counts add up.
        in_progress = frozenset({"in_progress"})

        async def end(i: int, file_id: str) -> str:
            ending = {"status": "completed" if i % 3 else "failed", "usage_bytes": 10}
            try:
                return found(await s.update_vector_store_file(sid, file_id, ending,
                                                             expected_status=in_progress))["status"]
            except StaleStatusError as exc:  # cancelled first
                return str(exc.current["status"])

        everything = [f["id"] for f in singles] + [f["id"] for b in batches for f in batched[b["id"]]]
        outcomes = await asyncio.gather(*(end(i, f) for i, f in enumerate(everything)),
                                        *(s.cancel_file_batch(sid, b["id"]) for b in batches[::2]))
        ended = dict(zip(everything, outcomes[:len(everything)], strict=True))
        stored = {f: found(await s.get_vector_store_file(sid, f)) for f in everything}
        assert {f: x["status"] for f, x in stored.items()} == ended  # each the one ending it was given
        by_status = {st: list(ended.values()).count(st) for st in ("completed", "failed", "cancelled")}
        assert by_status["cancelled"] <= 2 * len(batches[::2])
        shown = found(await s.get_vector_store(sid))
        assert shown["file_counts"] == counts(**{**by_status, "completed": by_status["completed"] + 1})
        ingested_bytes = 10 * (by_status["completed"] + by_status["failed"])
        assert shown["usage_bytes"] == ingested_bytes + by_status["cancelled"] + 1
        for b in batches:
            statuses = [stored[f["id"]]["status"] for f in batched[b["id"]]]
            if b["id"] == owner:
                statuses.append(shared["status"])
            expected = {st: statuses.count(st) for st in set(statuses)}
            assert found(await s.get_file_batch(sid, b["id"]))["file_counts"] == counts(**expected)
