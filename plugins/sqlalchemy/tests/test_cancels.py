"""Cancels on SQL storage: a storage call cut off by a cancel leaves no lock or transaction behind,
and a storm of runs cancelled mid-turn leaves every run ended and the database writable."""

import asyncio
import sqlite3

import pytest
import sqlalchemy as sa

from supercompat import supercompat
from supercompat.loop import run_sync
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
from supercompat.testing.storage import make_message, make_thread
from supercompat_sqlalchemy import sqlalchemy_storage_adapter
from supercompat_sqlalchemy.testing import empty


def assert_sqlite_unlocked(url):
    """An outside writer (the sqlite3 module, not our pool) takes the write lock at once."""
    if not url.startswith("sqlite"):
        return
    outside = sqlite3.connect(sa.make_url(url).database, timeout=1, isolation_level=None)
    try:
        outside.execute("BEGIN IMMEDIATE")
        outside.execute("ROLLBACK")
    finally:
        outside.close()


async def test_a_cancelled_storage_call_leaves_no_lock(database_url, storage):
    thread = make_thread()
    await storage.create_thread(thread, [])
    message = await storage.create_message(make_message(thread["id"]))
    for i in range(150):
        call = asyncio.ensure_future(storage.update_message(thread["id"], message["id"], {"metadata": {"i": str(i)}}))
        await asyncio.sleep((i % 30) * 0.0001)  # lands before, in and after the statement
        call.cancel()
        try:
            await call
        except asyncio.CancelledError:
            pass
        # The next write isn't kept waiting by what the cancelled one left (SQLite waits up to 30 s).
        done = await asyncio.wait_for(storage.update_message(thread["id"], message["id"], {"metadata": {"ok": "1"}}), 5)
        assert done["metadata"] == {"ok": "1"}
    assert_sqlite_unlocked(database_url)


@pytest.fixture
def client_of(database_url):
    """supercompat clients over the session's database, emptied first; their storage closed at the end."""
    asyncio.run(empty(database_url))
    storages = []

    def make(store, model):
        storages.append(store)
        return supercompat(client_adapter=model, storage_adapter=store, max_retries=0)

    yield make
    for store in storages:
        run_sync(store.close())


def test_a_cancel_never_interrupts_a_storage_write(database_url, client_of):
    store = WatchedWrites(sqlalchemy_storage_adapter(database_url), pause=0.5, pause_on="create_message")
    client = client_of(store, PacedModel(words=5, delay=0.05))
    thread_id, run_id = assert_cancel_waits_for_the_paused_call(client, store)
    assert dangling_steps(client, [(thread_id, run_id)]) == []
    [message] = client.beta.threads.messages.list(thread_id, run_id=run_id).data
    assert message.status == "incomplete" and message.incomplete_details.reason == "run_cancelled"


@pytest.mark.parametrize("concurrency,pairs", [(1, 30), (5, 60), (20, 120)])
def test_a_cancel_storm_ends_every_run(database_url, client_of, concurrency, pairs):
    # A model quick enough that cancels land as often in the turn's writes as in its stream.
    client = client_of(sqlalchemy_storage_adapter(database_url), PacedModel(words=6, delay=0.002))
    a = client.beta.assistants.create(model="m")
    report = cancel_storm(client, a.id, pairs=pairs, concurrency=concurrency)
    assert_storm_ended_cleanly(client, report, pairs)
    assert_sqlite_unlocked(database_url)


def test_a_cancel_never_interrupts_a_storage_read_of_the_run_adapter(database_url, client_of):
    store = WatchedWrites(sqlalchemy_storage_adapter(database_url), pause=0.5, pause_on="list_messages")
    assert_cancel_waits_for_the_paused_call(client_of(store, PacedModel(words=5, delay=0.05)), store)


def test_shutdown_lets_a_cancelled_run_unwind_before_ending_it(database_url, client_of):
    """A run stuck past the grace in a storage call, which runs to its end before it passes the cancel
    on: its message is closed by the shutdown, not written after it."""
    store = WatchedWrites(sqlalchemy_storage_adapter(database_url), pause=1.5, pause_on="create_message",
                          whole=True)
    client = client_of(store, PacedModel(words=5, delay=0.05))
    assert_shutdown_unwinds_the_paused_run(client, store, app_of(client).engine)
