"""Background jobs under leases (supercompat.jobs): run here, cancelled, failed, and taken over by
another process once the holder's lease lapses. Two Apps over one store stand in for two processes."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import pytest

from supercompat import supercompat
from supercompat.errors import APIError
from supercompat.jobs import JobContext
from supercompat.loop import core_loop, run_sync
from supercompat.storage import memory_storage_adapter
from supercompat.testing import app_of
from supercompat.testing.forking import in_forked_child
from supercompat.testing.storage import make_job

KIND = "test.count"


def process(store: Any, orphan_after: float = 30.0, **adapters: Any) -> Any:
    """The App of one stand-in process, its heartbeat and sweep fast."""
    app = app_of(supercompat(storage_adapter=store, max_retries=0, **adapters))
    engine = app.engine
    engine.heartbeat_interval, engine.sweep_interval, engine.orphan_after = 0.05, 0.05, orphan_after
    return app


class Counter:
    """A job handler counting from the payload's ``done`` to its ``to``, checkpointing each step; it
    can be held at a step (``hold_at``) until released, standing in for slow work."""

    def __init__(self, hold_at: int | None = None) -> None:
        self.hold_at = hold_at
        self.held = asyncio.Event()
        self.release = asyncio.Event()
        self.seen: list[tuple[int, int]] = []  # (attempt, step) of every step run

    async def __call__(self, job: dict[str, Any], context: JobContext) -> None:
        done = context.payload["done"]
        while done < context.payload["to"]:
            if done == self.hold_at:
                self.held.set()
                await self.release.wait()
            done += 1
            self.seen.append((job["attempt"], done))
            await context.checkpoint({**context.payload, "done": done})


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return result


def job_of(store: Any, job_id: str) -> dict[str, Any]:
    return run_sync(store.get_job(job_id))


def test_a_submitted_job_runs_here_and_ends_completed():
    store = memory_storage_adapter()
    app = process(store)
    counter = Counter()
    app.jobs.register(KIND, counter)
    job = run_sync(app.jobs.submit(KIND, {"done": 0, "to": 3}))
    assert job["status"] == "running" and job["attempt"] == 1 and job["id"].startswith("job_")
    ended = run_sync(app.jobs.wait(job["id"]))
    assert ended["status"] == "completed" and ended["finished_at"] and ended["last_error"] is None
    assert ended["payload"] == {"done": 3, "to": 3}
    assert counter.seen == [(1, 1), (1, 2), (1, 3)]


def test_a_job_may_be_given_the_id_its_caller_recorded_beforehand():
    store = memory_storage_adapter()
    app = process(store)
    app.jobs.register(KIND, Counter())
    job = run_sync(app.jobs.submit(KIND, {"done": 0, "to": 1}, job_id="job_recorded"))
    assert job["id"] == "job_recorded"
    assert run_sync(app.jobs.wait("job_recorded"))["status"] == "completed"


def test_a_failing_job_ends_failed_with_its_error_kept():
    store = memory_storage_adapter()
    app = process(store)

    async def broken(job: dict[str, Any], context: JobContext) -> None:
        raise APIError("The embedder said no.", status=502, type="server_error")

    app.jobs.register(KIND, broken)
    job = run_sync(app.jobs.submit(KIND, {}))
    ended = run_sync(app.jobs.wait(job["id"]))
    assert ended["status"] == "failed"
    assert ended["last_error"] == {"code": "server_error", "message": "The embedder said no."}


def test_an_unknown_or_twice_registered_kind_is_refused():
    app = process(memory_storage_adapter())
    with pytest.raises(APIError, match="No job kind 'nope'"):
        run_sync(app.jobs.submit("nope", {}))
    app.jobs.register(KIND, Counter())
    with pytest.raises(ValueError, match="already registered"):
        app.jobs.register(KIND, Counter())
    with pytest.raises(ValueError, match="already registered"):
        app.jobs.register("run", Counter())  # the runs' own lease kind


def test_a_cancel_stops_a_job_running_here():
    app = process(memory_storage_adapter())
    counter = Counter(hold_at=1)
    app.jobs.register(KIND, counter)
    job = run_sync(app.jobs.submit(KIND, {"done": 0, "to": 3}))
    wait_for(counter.held.is_set)
    run_sync(app.jobs.cancel(job["id"]))
    ended = run_sync(app.jobs.wait(job["id"]))
    assert ended["status"] == "cancelled" and ended["payload"]["done"] == 1


def test_a_cancel_from_another_process_reaches_the_holder_at_its_heartbeat():
    store = memory_storage_adapter()
    holder, other = process(store), process(store)
    counter = Counter(hold_at=1)
    holder.jobs.register(KIND, counter)
    job = run_sync(holder.jobs.submit(KIND, {"done": 0, "to": 3}))
    wait_for(counter.held.is_set)
    assert run_sync(other.jobs.cancel(job["id"]))["cancel_requested"] is True  # not running there
    wait_for(lambda: job_of(store, job["id"])["status"] == "cancelled")


def test_a_job_of_a_dead_process_is_resumed_from_its_checkpoint_by_another():
    store = memory_storage_adapter()
    # What a killed process leaves: a job it had checkpointed at 2 of 4, its lease no longer renewed.
    dead = run_sync(store.create_job(make_job(KIND, payload={"done": 2, "to": 4})))
    time.sleep(0.3)
    survivor = process(store, orphan_after=0.2)
    counter = Counter()
    survivor.jobs.register(KIND, counter)
    run_sync(_start_sweep(survivor))  # as the App's first use does
    ended = wait_for(lambda: (j := job_of(store, dead["id"]))["status"] != "running" and j)
    assert ended["status"] == "completed" and ended["attempt"] == 2 and ended["payload"]["done"] == 4
    assert counter.seen == [(2, 3), (2, 4)]  # resumed where the dead process stopped, not from 0


async def _start_sweep(app: Any) -> None:
    app.engine.watch()


def release(counter: Counter) -> None:
    async def on_loop() -> None:  # an asyncio.Event is set on its loop
        counter.release.set()

    run_sync(on_loop())


def test_the_holder_that_lost_its_lease_can_no_longer_write_the_job():
    store = memory_storage_adapter()
    slow = process(store)
    counter = Counter(hold_at=1)
    slow.jobs.register(KIND, counter)
    job = run_sync(slow.jobs.submit(KIND, {"done": 0, "to": 2}))
    wait_for(counter.held.is_set)
    # Another process takes it over (as if this one had been silent past orphan_after) and finishes it.
    [claimed] = run_sync(store.claim_lapsed(KIND, time.time() + 1))
    assert claimed["attempt"] == 2
    assert run_sync(store.update_job(job["id"], 2, {"status": "completed", "finished_at": 1}))
    release(counter)  # the old holder wakes up: its checkpoint is refused, and it stops
    ended = run_sync(slow.jobs.wait(job["id"]))
    assert ended["status"] == "completed" and ended["finished_at"] == 1 and ended["payload"]["done"] == 1


def test_a_job_this_process_reclaims_from_itself_runs_once_more_not_twice():
    store = memory_storage_adapter()
    app = process(store)
    counter = Counter(hold_at=1)
    app.jobs.register(KIND, counter)
    job = run_sync(app.jobs.submit(KIND, {"done": 0, "to": 2}))
    wait_for(counter.held.is_set)
    # Its heartbeat failed for a while (a storage outage) and its own sweep claims it back.
    [claimed] = run_sync(store.claim_lapsed(KIND, time.time() + 1))
    [holder] = [h for h in app.jobs.holders() if h.kind == KIND]  # core registers kinds of its own
    run_sync(holder.reclaim(claimed))
    release(counter)
    ended = wait_for(lambda: (j := job_of(store, job["id"]))["status"] != "running" and j)
    assert ended["status"] == "completed" and ended["attempt"] == 2
    assert counter.seen == [(1, 1), (2, 2)]  # the first attempt stopped; the second finished


def test_a_job_that_keeps_killing_its_processes_is_given_up():
    store = memory_storage_adapter()
    dead = run_sync(store.create_job(make_job(KIND, payload={"done": 0, "to": 1}, attempt=3)))
    time.sleep(0.3)
    survivor = process(store, orphan_after=0.2)
    counter = Counter()
    survivor.jobs.register(KIND, counter)
    run_sync(_start_sweep(survivor))
    ended = wait_for(lambda: (j := job_of(store, dead["id"]))["status"] != "running" and j)
    assert ended["status"] == "failed" and ended["attempt"] == 4
    assert "given up after 3 attempts" in ended["last_error"]["message"]
    assert counter.seen == []  # never run a fourth time


def test_a_claimed_job_with_a_pending_cancel_ends_cancelled_without_running():
    store = memory_storage_adapter()
    dead = run_sync(store.create_job(make_job(KIND, cancel_requested=True)))
    time.sleep(0.3)
    survivor = process(store, orphan_after=0.2)
    counter = Counter()
    survivor.jobs.register(KIND, counter)
    run_sync(_start_sweep(survivor))
    wait_for(lambda: job_of(store, dead["id"])["status"] == "cancelled")
    assert counter.seen == []


def test_a_shutdown_leaves_a_running_job_to_be_resumed_elsewhere():
    store = memory_storage_adapter()
    first = process(store)
    counter = Counter(hold_at=1)
    first.jobs.register(KIND, counter)
    job = run_sync(first.jobs.submit(KIND, {"done": 0, "to": 2}))
    wait_for(counter.held.is_set)
    run_sync(first.aclose(grace=0))
    assert job_of(store, job["id"])["status"] == "running"  # nothing recorded: it is resumable
    second = process(store, orphan_after=0.2)
    resumed = Counter()
    second.jobs.register(KIND, resumed)
    run_sync(_start_sweep(second))
    wait_for(lambda: job_of(store, job["id"])["status"] == "completed")
    assert resumed.seen == [(2, 2)]


def closing(app: Any, grace: float = 30.0) -> Any:
    """Start ``app.aclose(grace)`` on its loop without waiting: the future of its end."""
    return asyncio.run_coroutine_threadsafe(app.aclose(grace=grace), core_loop())


def test_a_closing_app_keeps_renewing_the_jobs_it_lets_finish():
    store = memory_storage_adapter()
    holder, sweeper = process(store), process(store, orphan_after=0.2)
    counter = Counter(hold_at=1)
    holder.jobs.register(KIND, counter)
    sweeper.jobs.register(KIND, Counter())
    job = run_sync(holder.jobs.submit(KIND, {"done": 0, "to": 2}))
    wait_for(counter.held.is_set)
    run_sync(_start_sweep(sweeper))
    closed = closing(holder)
    time.sleep(0.6)  # three lapses' worth, within the grace: the holder's heartbeat renewed the lease
    assert job_of(store, job["id"])["attempt"] == 1 and not closed.done()
    release(counter)
    closed.result(timeout=10)
    ended = job_of(store, job["id"])
    assert ended["status"] == "completed" and ended["attempt"] == 1  # finished by its holder, in the grace
    assert holder.engine._heartbeat.done()  # and the heartbeat stopped after it


def test_a_closing_app_claims_nothing_and_starts_nothing():
    store = memory_storage_adapter()
    app = process(store, orphan_after=0.2)
    counter = Counter(hold_at=1)
    app.jobs.register(KIND, counter)
    run_sync(app.jobs.submit(KIND, {"done": 0, "to": 2}))
    wait_for(counter.held.is_set)
    closed = closing(app)
    dead = run_sync(store.create_job(make_job(KIND)))  # another process's, about to lapse
    time.sleep(0.4)
    run_sync(app.engine.beat(sweep=True))  # even a sweep asked for claims nothing now
    assert job_of(store, dead["id"])["attempt"] == 1  # left for a process that stays, not claimed and dropped
    with pytest.raises(APIError, match="shutting down") as info:
        run_sync(app.jobs.submit(KIND, {"done": 0, "to": 1}))
    assert info.value.status == 503
    release(counter)
    closed.result(timeout=10)
    heartbeat = app.engine._heartbeat
    assert heartbeat.done()
    run_sync(_start_sweep(app))  # a late watch() doesn't start it again, on a closed storage
    assert app.engine._heartbeat is heartbeat


def test_a_holder_that_lost_its_job_no_longer_renews_its_lease():
    store = memory_storage_adapter()
    slow = process(store)
    counter = Counter(hold_at=1)
    slow.jobs.register(KIND, counter)
    job = run_sync(slow.jobs.submit(KIND, {"done": 0, "to": 2}))
    wait_for(counter.held.is_set)
    # Taken over by another process (this one was silent too long), which then died as well.
    [claimed] = run_sync(store.claim_lapsed(KIND, time.time() + 1))
    assert claimed["attempt"] == 2
    time.sleep(0.5)  # the old holder's heartbeat (every 0.05 s) went on all along
    [lapsed] = run_sync(store.claim_lapsed(KIND, time.time() - 0.3))
    assert lapsed["attempt"] == 3  # the second attempt's lease lapsed: the old holder didn't keep it up
    release(counter)  # its checkpoint is refused, and it stops
    stored = run_sync(slow.jobs.wait(job["id"]))
    assert stored["status"] == "running" and stored["attempt"] == 3 and stored["payload"]["done"] == 1


def test_an_adapter_registers_its_job_kinds_with_the_app():
    class StorageWithJobs(type(memory_storage_adapter())):  # type: ignore[misc]
        def register_job_kinds(self, jobs: Any) -> None:
            jobs.register(KIND, Counter())

    app = process(StorageWithJobs())
    job = run_sync(app.jobs.submit(KIND, {"done": 0, "to": 1}))
    assert run_sync(app.jobs.wait(job["id"]))["status"] == "completed"


def test_a_job_keeps_its_lease_while_it_runs():
    store = memory_storage_adapter()
    holder, sweeper = process(store), process(store, orphan_after=0.2)
    counter = Counter(hold_at=1)
    holder.jobs.register(KIND, counter)
    sweeper.jobs.register(KIND, Counter())
    job = run_sync(holder.jobs.submit(KIND, {"done": 0, "to": 2}))
    wait_for(counter.held.is_set)
    run_sync(_start_sweep(sweeper))
    time.sleep(0.6)  # three lapses' worth: the holder's heartbeat renewed it all along
    assert job_of(store, job["id"])["attempt"] == 1
    release(counter)
    assert run_sync(holder.jobs.wait(job["id"]))["status"] == "completed"


@pytest.mark.skipif(sys.platform == "win32", reason="no os.fork")
def test_a_job_running_at_a_fork_stays_the_parents():
    app = process(memory_storage_adapter())
    counter = Counter(hold_at=1)
    app.jobs.register(KIND, counter)
    job = run_sync(app.jobs.submit(KIND, {"done": 0, "to": 2}))
    wait_for(counter.held.is_set)

    def in_child() -> list[Any]:
        held_here = app.jobs.holds_leases()
        own = run_sync(app.jobs.submit(KIND, {"done": 0, "to": 1}))
        return [held_here, run_sync(app.jobs.wait(own["id"]))["status"]]

    assert in_forked_child(in_child) == [False, "completed"]  # the child holds none of the parent's
    release(counter)
    assert run_sync(app.jobs.wait(job["id"]))["status"] == "completed"


class RecordedStorage:
    """A storage passing every call on, recording the names of the calls made."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not callable(method) or name.startswith("_") or name == "register_job_kinds":
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return method(*args, **kwargs)

        return call


def test_a_plain_run_makes_no_storage_call_for_its_lease():
    """A run's lease is renewed by the run's own writes: between two heartbeats (5 s apart) a run
    costs no lease call at all, and a text-only run writes its run, message and step only."""
    from supercompat.testing import scripted_client_adapter

    store = RecordedStorage(memory_storage_adapter())
    client = supercompat(client_adapter=scripted_client_adapter(["Hello there."]), storage_adapter=store,
                         max_retries=0)
    assistant = client.beta.assistants.create(model="m")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    store.calls.clear()
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   poll_interval_ms=10)
    assert run.status == "completed"
    lease_calls = {"renew_leases", "claim_lapsed", "create_job", "update_job", "get_job", "cancel_job"}
    assert not lease_calls & set(store.calls)
    writes = [c for c in store.calls if c.startswith(("create_", "update_", "delete_"))]
    assert sorted(writes) == sorted(["create_run", "update_run", "create_message", "create_step",
                                     "update_message", "update_step", "update_run"])
