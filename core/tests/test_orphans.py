"""Runs whose executor dies: two Apps over one store stand in for two processes sharing a database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from supercompat import supercompat
from supercompat.loop import run_async
from supercompat.storage import ListQuery, memory_storage_adapter
from supercompat.testing import app_of, scripted_client_adapter
from supercompat.testing.storage import make_assistant, make_message, make_run, make_thread


class HangingProvider:
    """Starts a streamed answer and never finishes it."""

    async def chat_completions(self, params: dict[str, Any]) -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def chat_completions_stream(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        yield {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": params["model"],
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Thinking"},
                            "logprobs": None, "finish_reason": None}]}
        await asyncio.Event().wait()

    async def list_models(self) -> list[dict[str, Any]]:
        return []


def process(store: Any, provider: Any = None, orphan_after: float = 0.5) -> Any:
    """A client standing in for one process: its own App and RunEngine, over the shared store."""
    client = supercompat(client_adapter=provider or HangingProvider(), storage_adapter=store, max_retries=0)
    engine = app_of(client).engine
    engine.heartbeat_interval, engine.orphan_after = 0.05, orphan_after
    return client


async def dead_process_run(store: Any, status: str = "in_progress") -> dict[str, Any]:
    """What a killed process leaves: a run in progress that nobody executes or heartbeats."""
    assistant = await store.create_assistant(make_assistant())
    thread = make_thread()
    await store.create_thread(thread, [make_message(thread["id"], "hello")])
    return await store.create_run(make_run(thread["id"], assistant["id"], status=status), [])


def wait_for(predicate: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return result


async def test_a_run_of_a_dead_process_is_failed_on_access():
    store = memory_storage_adapter()
    run = await dead_process_run(store)
    client = process(store, orphan_after=30)
    assert client.beta.threads.runs.retrieve(run["id"], thread_id=run["thread_id"]).status == "in_progress"
    app_of(client).engine.orphan_after = 0.5
    time.sleep(0.6)
    ended = client.beta.threads.runs.retrieve(run["id"], thread_id=run["thread_id"])
    assert ended.status == "failed" and ended.failed_at
    assert ended.last_error.code == "server_error" and "process executing it stopped" in ended.last_error.message


async def test_a_dead_process_run_does_not_block_the_thread():
    store = memory_storage_adapter()
    run = await dead_process_run(store)
    time.sleep(0.6)
    client = process(store, provider=scripted_client_adapter(["ok"]))
    client.beta.threads.messages.create(run["thread_id"], role="user", content="still there?")
    assert (await store.get_run(run["thread_id"], run["id"]))["status"] == "failed"
    new = client.beta.threads.runs.create_and_poll(thread_id=run["thread_id"], assistant_id=run["assistant_id"])
    assert new.status == "completed"


async def test_a_pending_cancel_of_a_dead_process_run_ends_cancelled():
    store = memory_storage_adapter()
    run = await dead_process_run(store, status="cancelling")
    time.sleep(0.6)
    client = process(store)
    assert client.beta.threads.runs.retrieve(run["id"], thread_id=run["thread_id"]).status == "cancelled"


async def test_a_cancel_from_another_process_reaches_the_executor():
    store = memory_storage_adapter()
    executor, other = process(store, orphan_after=30), process(store, orphan_after=30)
    a = executor.beta.assistants.create(model="m")
    t = executor.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = executor.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id)
    wait_for(lambda: executor.beta.threads.runs.retrieve(run.id, thread_id=t.id).status == "in_progress")
    assert other.beta.threads.runs.cancel(run.id, thread_id=t.id).status == "cancelling"
    # The executor learns of it at its next heartbeat and records the ending itself.
    ended = wait_for(lambda: (r := other.beta.threads.runs.retrieve(run.id, thread_id=t.id)).status == "cancelled"
                     and r)
    assert ended.cancelled_at
    [message] = other.beta.threads.messages.list(t.id, run_id=run.id).data
    assert message.status == "incomplete" and message.incomplete_details.reason == "run_cancelled"


async def test_a_busy_engine_sweeps_orphans_nobody_reads():
    store = memory_storage_adapter()
    orphan = await dead_process_run(store)
    busy = process(store)
    a = busy.beta.assistants.create(model="m")
    t = busy.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    busy.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id)  # keeps this engine beating

    async def status() -> str:
        return (await store.get_run(orphan["thread_id"], orphan["id"]))["status"]

    deadline = time.monotonic() + 5
    while await run_async(status()) != "failed":
        assert time.monotonic() < deadline, "the sweep never ended the orphan"
        await asyncio.sleep(0.05)
    steps = await run_async(store.list_steps(orphan["thread_id"], orphan["id"], ListQuery()))
    assert all(s["status"] != "in_progress" for s in steps.data)


async def test_two_processes_sweeping_at_once_end_an_orphan_once():
    store = memory_storage_adapter()
    orphan = await dead_process_run(store)
    first, second = (app_of(process(store)).engine for _ in range(2))
    time.sleep(0.6)

    async def both() -> list[list[dict[str, Any]]]:
        return await asyncio.gather(first.end_orphans(), second.end_orphans())

    ended = await run_async(both())
    # The claim went to one of them: the other saw nothing to end (no second ending written).
    assert sorted(len(e) for e in ended) == [0, 1]
    [run] = ended[0] + ended[1]
    assert run == await run_async(store.get_run(orphan["thread_id"], orphan["id"])) and run["status"] == "failed"
