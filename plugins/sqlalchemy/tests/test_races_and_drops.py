"""Races and edge cases found in review: each test here failed before the fix it came with."""

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from supercompat.storage import StaleStatusError, file_counts
from supercompat.testing.storage import (
    found,
    make_file_batch,
    make_message,
    make_run,
    make_step,
    make_thread,
    make_vector_store,
    make_vector_store_file,
)
from supercompat_sqlalchemy import StorageUnavailable, sqlalchemy_storage_adapter
from supercompat_sqlalchemy.migrations import head
from supercompat_sqlalchemy.testing import scratch_database, sync_url


def sync_engine(url: str) -> sa.Engine:
    """A plain synchronous engine on the same database: a second connection with its own transactions."""
    parsed = sync_url(url)
    # On SQLite, fail at once instead of waiting out the busy timeout: the other side holds the write lock.
    return sa.create_engine(parsed, connect_args={"timeout": 0} if parsed.get_backend_name() == "sqlite" else {})


def lock_timeout(conn: sa.Connection) -> None:
    """Give up after a second when a row lock is held elsewhere (the sign that the other side locked it)."""
    backend = conn.engine.dialect.name
    if backend == "postgresql":
        conn.exec_driver_sql("SET lock_timeout = '1s'")
    elif backend in ("mysql", "mariadb"):
        conn.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 1")


@contextmanager
def while_running(storage, prefix: str, write) -> Iterator[list]:
    """Just before ``storage`` runs a statement starting with ``prefix``, commit ``write(conn)`` from
    another connection, as another process would. Yields a list that gets what that write raised."""
    other = sync_engine(storage.engine.url.render_as_string(hide_password=False))
    outcome: list = []

    def interleave(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith(prefix) and not outcome:
            try:
                with other.begin() as sync_conn:
                    lock_timeout(sync_conn)
                    write(sync_conn)
                outcome.append(None)
            except (sa.exc.DBAPIError, sqlite3.Error) as exc:
                outcome.append(exc)

    sa.event.listen(storage.engine.sync_engine, "before_cursor_execute", interleave)
    try:
        yield outcome
    finally:
        sa.event.remove(storage.engine.sync_engine, "before_cursor_execute", interleave)
        other.dispose()


@pytest.mark.parametrize("table, insert", [
    ("supercompat_threads", "message"),  # the run's answer, written as the thread goes
    ("supercompat_runs", "step"),  # the run's next step, written as its run goes
])
async def test_deleting_a_thread_while_its_run_writes(storage, table, insert):
    thread = make_thread()
    await storage.create_thread(thread, [make_message(thread["id"])])
    run = make_run(thread["id"], status="in_progress")
    await storage.create_run(run, [])
    await storage.create_step(make_step(thread["id"], run["id"]))

    def write(conn):
        if insert == "message":
            row = make_message(thread["id"], role="assistant", run_id=run["id"])
            conn.execute(sa.text("INSERT INTO supercompat_messages (id, created_at, thread_id, run_id, role) "
                                 "VALUES (:id, :created_at, :thread_id, :run_id, :role)"), row)
        else:
            row = make_step(thread["id"], run["id"])
            conn.execute(sa.text("INSERT INTO supercompat_steps (id, created_at, run_id, thread_id) "
                                 "VALUES (:id, :created_at, :run_id, :thread_id)"), row)

    with while_running(storage, f"DELETE FROM {table} ", write) as outcome:
        # The delete wins: the run's late write waits for it and then finds nothing to write into.
        assert await storage.delete_thread(thread["id"]) is True
    assert outcome and outcome[0] is not None
    assert await storage.get_thread(thread["id"]) is None
    assert await storage.get_run(thread["id"], run["id"]) is None


def kill_other_sessions(conn: sa.Connection) -> None:
    """What a database restart or a network cut does to every connection but this one."""
    if conn.engine.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    else:
        for (pid,) in conn.exec_driver_sql("SELECT id FROM information_schema.processlist "
                                           "WHERE db = DATABASE() AND id <> CONNECTION_ID()").all():
            conn.exec_driver_sql(f"KILL {pid}")


async def test_a_connection_dropped_mid_transaction_is_a_503_and_writes_nothing(storage):
    if storage.engine.dialect.name == "sqlite":
        pytest.skip("a file has no connection to drop")
    thread = make_thread()
    await storage.create_thread(thread, [])
    message = make_message(thread["id"])
    with while_running(storage, "INSERT INTO supercompat_messages", kill_other_sessions):
        with pytest.raises(StorageUnavailable) as info:
            await storage.create_message(message)
    assert info.value.status == 503 and "unavailable" in info.value.message
    # The pool replaces the dead connection; the message was never half-written.
    assert await storage.get_message(thread["id"], message["id"]) is None
    assert await storage.create_message(message) == message


@pytest.fixture
def two_fresh_urls(database_url):
    backend = sa.make_url(database_url).get_backend_name()
    with scratch_database(backend) as first, scratch_database(backend) as second:
        yield first, second


async def test_two_storages_first_used_at_once_each_get_their_schema(two_fresh_urls):
    storages = [sqlalchemy_storage_adapter(url) for url in two_fresh_urls]
    try:
        # Bounded only so that a deadlock fails the test instead of hanging it.
        await asyncio.wait_for(asyncio.gather(*(s.get_thread("thread_x") for s in storages)), 60)
        for s in storages:
            assert await s.migrate() == (head(), head())
            thread = make_thread()
            await s.create_thread(thread, [make_message(thread["id"])])
    finally:
        for s in storages:
            await s.close()


FIRST_USE = """
import asyncio, sys
from supercompat_sqlalchemy import sqlalchemy_storage_adapter

async def main():
    storage = sqlalchemy_storage_adapter(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        await storage.get_thread("thread_x")
        print("ok")
    except Exception as exc:
        print(type(exc).__name__, getattr(exc, "message", exc))
    await storage.close()

asyncio.run(main())
"""


def test_processes_first_using_a_new_database_at_once_all_succeed(two_fresh_urls):
    url = two_fresh_urls[0]
    processes = [subprocess.Popen([sys.executable, "-c", FIRST_USE, url], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True) for _ in range(3)]
    for process in processes:
        assert process.stdout.readline() == "ready\n"
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    outcomes = [process.communicate(timeout=120)[0].strip() for process in processes]
    assert outcomes == ["ok"] * 3


async def test_a_store_deleted_while_files_are_attached_waits_for_the_attach(storage):
    store = make_vector_store()
    await storage.create_vector_store(store, [])
    file = make_vector_store_file(store["id"])

    def delete_store(conn):  # another process deleting the store, as delete_vector_store does
        for table in ("supercompat_vector_store_files", "supercompat_vector_store_file_batches"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE vector_store_id = :id"), store)
        conn.execute(sa.text("DELETE FROM supercompat_vector_stores WHERE id = :id"), store)

    with while_running(storage, "INSERT INTO supercompat_vector_store_files", delete_store) as outcome:
        # The attach holds the store's row: the delete waits for it (here it gives up after a second).
        assert await storage.attach_files(store["id"], [file]) == [file]
    assert outcome and outcome[0] is not None
    assert found(await storage.get_vector_store(store["id"]))["file_counts"]["total"] == 1
    assert await storage.delete_vector_store(store["id"]) is True
    assert await storage.vector_stores_of_file(file["id"]) == []


@pytest.mark.parametrize("first", ["cancel", "ending"])
async def test_a_batch_cancel_racing_an_ingestion_ending_loses_neither(storage, first):
    store = make_vector_store()
    await storage.create_vector_store(store, [])
    batch = make_file_batch(store["id"])
    file = make_vector_store_file(store["id"], batch_id=batch["id"])
    await storage.attach_files(store["id"], [file], batch=batch)
    in_progress = frozenset({"in_progress"})

    def cancel(conn):  # another process cancelling the batch, as cancel_file_batch does
        conn.execute(sa.text("UPDATE supercompat_vector_store_file_batches SET status = 'cancelled' "
                             "WHERE id = :id"), batch)
        conn.execute(sa.text("UPDATE supercompat_vector_store_files SET status = 'cancelled' "
                             "WHERE batch_id = :id AND status = 'in_progress'"), batch)

    def end(conn):  # another process's ingestion ending, as update_vector_store_file does
        conn.execute(sa.text("UPDATE supercompat_vector_store_files SET status = 'completed' "
                             "WHERE id = :id AND status = 'in_progress'"), file)

    if first == "cancel":  # the cancel commits as the ingestion's conditional write begins
        with while_running(storage, "UPDATE supercompat_vector_store_files", cancel) as outcome:
            try:
                ended = await storage.update_vector_store_file(
                    store["id"], file["id"], {"status": "completed"}, expected_status=in_progress)
            except StaleStatusError as exc:
                ended = exc.current
        # Either the cancel got in first and the ending saw it, or the ending held the row and the cancel
        # (waiting for it, giving up after a second) never happened.
        assert ended["status"] == ("cancelled" if outcome[0] is None else "completed")
    else:  # the ingestion's ending commits as the cancel's update of the files begins
        with while_running(storage, "UPDATE supercompat_vector_store_files", end) as outcome:
            cancelled = found(await storage.cancel_file_batch(store["id"], batch["id"]))
        assert cancelled["status"] == "cancelled"
        ended = {"status": "completed" if outcome[0] is None else "cancelled"}
    assert outcome
    assert found(await storage.get_vector_store_file(store["id"], file["id"]))["status"] == ended["status"]
    shown = found(await storage.get_vector_store(store["id"]))
    assert shown["file_counts"] == file_counts({ended["status"]: 1})


class DriverError(Exception):
    """A database driver's error, as MySQL's (errno first) or PostgreSQL's (a sqlstate) drivers raise them."""

    def __init__(self, *args, sqlstate=None):
        super().__init__(*args)
        self.sqlstate = sqlstate


@pytest.mark.parametrize("error", [DriverError(1213, "Deadlock found when trying to get lock"),
                                   DriverError("deadlock detected", sqlstate="40P01"),
                                   DriverError("could not serialize access", sqlstate="40001")],
                         ids=["mysql-deadlock", "postgresql-deadlock", "serialization-failure"])
async def test_a_transaction_rolled_back_to_break_a_deadlock_runs_again(storage, error):
    tries = []

    async def transaction():
        tries.append(1)
        if len(tries) < 3:
            async with storage._errors():  # as the adapter's own transactions report it
                raise sa.exc.OperationalError("UPDATE ...", {}, error)
        return "done"

    assert await storage._retrying(transaction) == "done" and len(tries) == 3


async def test_other_errors_are_not_run_again(storage):
    tries = []

    async def transaction():
        tries.append(1)
        async with storage._errors():
            raise sa.exc.OperationalError("UPDATE ...", {}, DriverError(1205, "Lock wait timeout exceeded"))

    with pytest.raises(StorageUnavailable):
        await storage._retrying(transaction)
    assert len(tries) == 1
