"""Cancels racing a run's turn: a cancel never breaks off a storage write, leaves no step without its
message, and a storm of them leaves every run ended and the storage answering."""

from __future__ import annotations

import time

import pytest
from test_orphans import dead_process_run, process

from supercompat import supercompat
from supercompat.loop import run_sync
from supercompat.storage import memory_storage_adapter
from supercompat.testing import app_of
from supercompat.testing.cancels import (
    PacedModel,
    WatchedWrites,
    assert_cancel_waits_for_the_paused_call,
    assert_shutdown_unwinds_the_paused_run,
    assert_storm_ended_cleanly,
    cancel_storm,
    dangling_steps,
)


@pytest.mark.parametrize("write", ["create_step", "create_message"])
def test_a_cancel_never_interrupts_a_storage_write(write):
    store = WatchedWrites(memory_storage_adapter(), pause=0.5, pause_on=write)
    client = supercompat(client_adapter=PacedModel(words=5, delay=0.05), storage_adapter=store, max_retries=0)
    a = client.beta.assistants.create(model="m")
    for _ in range(2):
        thread_id, run_id = assert_cancel_waits_for_the_paused_call(client, store, a.id)
        assert dangling_steps(client, [(thread_id, run_id)]) == []
        [step] = client.beta.threads.runs.steps.list(run_id, thread_id=thread_id).data
        assert step.status == "cancelled"
        message = client.beta.threads.messages.retrieve(step.step_details.message_creation.message_id,
                                                        thread_id=thread_id)
        assert message.status == "incomplete" and message.incomplete_details.reason == "run_cancelled"


@pytest.mark.parametrize("concurrency,pairs", [(1, 40), (5, 100), (20, 200)])
def test_a_cancel_storm_ends_every_run(concurrency, pairs):
    client = supercompat(client_adapter=PacedModel(words=10, delay=0.005), storage_adapter=memory_storage_adapter(),
                         max_retries=0)
    a = client.beta.assistants.create(model="m")
    report = cancel_storm(client, a.id, pairs=pairs, concurrency=concurrency)
    assert_storm_ended_cleanly(client, report, pairs)


def test_a_cancel_never_interrupts_a_storage_read_of_the_run_adapter():
    """The built-in run adapter reads the thread while the engine waits for its next event: a cancel
    landing in that read waits for it to return, then ends the run."""
    store = WatchedWrites(memory_storage_adapter(), pause=0.5, pause_on="list_messages")
    client = supercompat(client_adapter=PacedModel(words=5, delay=0.05), storage_adapter=store, max_retries=0)
    assert_cancel_waits_for_the_paused_call(client, store)


def test_shutdown_lets_a_cancelled_run_unwind_before_ending_it():
    """A run stuck past the grace in a storage call that finishes before passing a cancel on (as SQL
    calls do): shutdown ends it only once the call is done, so the message it was writing is closed
    too instead of landing, still in progress, after the run was ended."""
    store = WatchedWrites(memory_storage_adapter(), pause=1.5, pause_on="create_message", whole=True)
    client = supercompat(client_adapter=PacedModel(words=5, delay=0.05), storage_adapter=store, max_retries=0)
    assert_shutdown_unwinds_the_paused_run(client, store, app_of(client).engine)


def test_an_idle_process_ends_orphans_nobody_reads():
    store = memory_storage_adapter()
    idle = process(store)
    app_of(idle).engine.sweep_interval = 0.05
    idle.beta.assistants.list()  # the App has served once, and does nothing since
    run = run_sync(dead_process_run(store))
    deadline = time.monotonic() + 10
    while run_sync(store.get_run(run["thread_id"], run["id"]))["status"] != "failed":
        assert time.monotonic() < deadline, "the idle process never ended the orphan"
        time.sleep(0.05)


def test_runs_list_ends_the_orphans_it_shows():
    store = memory_storage_adapter()
    client = process(store)
    run = run_sync(dead_process_run(store))
    time.sleep(0.6)  # past orphan_after
    [listed] = client.beta.threads.runs.list(thread_id=run["thread_id"]).data
    assert listed.status == "failed" and "stopped" in listed.last_error.message


def test_the_sweep_starts_with_the_first_request_and_stops_with_aclose():
    client = supercompat(storage_adapter=memory_storage_adapter(), max_retries=0)
    engine = app_of(client).engine
    assert engine._heartbeat is None  # nothing runs in the background before the App is used
    client.beta.assistants.list()
    sweep = engine._heartbeat
    assert sweep is not None and not sweep.done()
    run_sync(app_of(client).aclose(grace=0))
    deadline = time.monotonic() + 5
    while not sweep.done():
        assert time.monotonic() < deadline, "the sweep outlived aclose()"
        time.sleep(0.01)
