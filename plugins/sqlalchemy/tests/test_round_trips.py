"""How many statements the adapter's writes cost, and that the shorter paths return what the longer did."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from supercompat.storage import ActiveRunError, ListQuery, StaleStatusError
from supercompat.testing.storage import make_message, make_run, make_step, make_thread
from supercompat_sqlalchemy import sqlalchemy_storage_adapter

from test_races_and_drops import sync_engine


@contextmanager
def statements(storage) -> Iterator[list[str]]:
    """The statements ``storage`` sends while the block runs, BEGIN and COMMIT included."""
    sent: list[str] = []

    def execute(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE: counted once, below
            sent.append(statement.split(None, 1)[0].upper())

    def begin(conn):
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            sent.append("BEGIN")

    def commit(conn):
        sent.append("COMMIT")

    engine = storage.engine.sync_engine
    listeners = (("before_cursor_execute", execute), ("begin", begin), ("commit", commit))
    for name, fn in listeners:
        sa.event.listen(engine, name, fn)
    try:
        yield sent
    finally:
        for name, fn in listeners:
            sa.event.remove(engine, name, fn)


async def _thread_with_run(storage, **run_fields):
    thread = make_thread()
    await storage.create_thread(thread, [make_message(thread["id"])])
    run = make_run(thread["id"], **run_fields)
    await storage.create_run(run, [])
    return thread, run


async def test_a_run_transition_is_one_statement(storage):
    if not storage._returning:
        pytest.skip("no UPDATE ... RETURNING on this database: read under a lock, then write")
    thread, run = await _thread_with_run(storage, status="queued")
    with statements(storage) as sent:
        await storage.update_run(thread["id"], run["id"], {"status": "in_progress"},
                                 expected_status=frozenset({"queued"}))
    assert sent == ["UPDATE"]


async def test_a_write_of_one_statement_is_not_wrapped_in_a_transaction(storage):
    """One statement is atomic by itself: on SQLite and PostgreSQL it runs in autocommit, without
    the BEGIN and COMMIT round trips (MySQL would pay two to switch the connection to autocommit)."""
    one = ["INSERT"] if storage._autocommit_writes else ["BEGIN", "INSERT", "COMMIT"]
    thread, run = await _thread_with_run(storage, status="in_progress")
    with statements(storage) as sent:
        await storage.create_thread(make_thread(), [])
    assert sent == one
    with statements(storage) as sent:
        await storage.create_step(make_step(thread["id"], run["id"]))
    assert sent == one
    answer = make_message(thread["id"], role="assistant", run_id=run["id"])
    with statements(storage) as sent:
        await storage.create_message(answer)
    assert sent == one
    with statements(storage) as sent:
        assert await storage.delete_message(thread["id"], answer["id"]) is True
    assert sent == [s.replace("INSERT", "DELETE") for s in one]
    with statements(storage) as sent:
        await storage.create_thread(make_thread(), [make_message(thread["id"])])
    assert sent == ["BEGIN", "INSERT", "INSERT", "COMMIT"]  # two statements: one transaction


async def test_the_returning_path_returns_what_the_locking_path_does(database_url):
    """Keys without a column (kept in ``extra``), ints in float columns, a stale status, a missing row:
    the one-statement update answers exactly as reading under a lock and writing did."""
    answers = {}
    for returning in (True, False):
        storage = sqlalchemy_storage_adapter(database_url)
        storage._returning = storage._returning and returning
        try:
            thread, run = await _thread_with_run(storage, status="queued", future_field={"kept": [1, 2]})
            changes = {"status": "in_progress", "temperature": 1, "metadata": {"b": "1", "a": "2"}}
            got = [await storage.update_run(thread["id"], run["id"], changes, expected_status=frozenset({"queued"}))]
            got.append(await storage.update_run(thread["id"], run["id"], {"later_field": "x"}))
            got.append(await storage.update_run(thread["id"], "run_missing", {"status": "cancelled"},
                                                expected_status=frozenset({"in_progress"})))
            with pytest.raises(StaleStatusError) as stale:
                await storage.update_run(thread["id"], run["id"], {"status": "cancelled"},
                                         expected_status=frozenset({"queued"}))
            got.append(stale.value.current)
            got.append(await storage.update_thread(thread["id"], {"project": None, "metadata": {"x": "y"}}))
            step = make_step(thread["id"], run["id"])
            await storage.create_step(step)
            got.append(await storage.update_step(thread["id"], run["id"], step["id"], {"status": "completed"}))
            got.append(await storage.get_run(thread["id"], run["id"]))
        finally:
            await storage.close()
        answers[returning] = [{k: v for k, v in o.items() if k not in ("id", "thread_id", "run_id", "created_at")}
                              if o else o for o in got]
    assert [list(o) if o else o for o in answers[True]] == [list(o) if o else o for o in answers[False]]
    assert answers[True] == answers[False]
    assert answers[True][0]["temperature"] == 1 and type(answers[True][0]["temperature"]) is int
    assert answers[True][1]["future_field"] == {"kept": [1, 2]} and answers[True][1]["later_field"] == "x"


@contextmanager
def status_set_after(storage, run, first_statements: list[str], status: str) -> Iterator[list[str]]:
    """The statements ``storage`` sends (first words); once they begin with ``first_statements``,
    another connection sets the run's status, as another process would."""
    other = sync_engine(storage.engine.url.render_as_string(hide_password=False))
    seen: list[str] = []

    def after(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement.split(None, 1)[0])
        if seen == first_statements:
            with other.begin() as c:
                c.execute(sa.text("UPDATE supercompat_runs SET status = :status WHERE id = :id"),
                          {"status": status, "id": run["id"]})

    sa.event.listen(storage.engine.sync_engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        sa.event.remove(storage.engine.sync_engine, "after_cursor_execute", after)
        other.dispose()


async def test_a_transition_that_misses_reads_and_tries_again_if_the_status_came_back(storage):
    """The UPDATE matched nothing (the run was elsewhere), but by the read the run is back in an
    expected status: the update is tried again rather than reported stale with a current run that
    isn't."""
    if not storage._returning:
        pytest.skip("no UPDATE ... RETURNING on this database")
    thread, run = await _thread_with_run(storage, status="requires_action")
    # It missed: now the run is put back where the caller expected it.
    with status_set_after(storage, run, ["UPDATE"], "queued") as seen:
        new = await storage.update_run(thread["id"], run["id"], {"status": "in_progress"},
                                       expected_status=frozenset({"queued"}))
    assert seen == ["UPDATE", "SELECT", "UPDATE"]
    assert new["status"] == "in_progress"
    assert (await storage.get_run(thread["id"], run["id"]))["status"] == "in_progress"


async def test_the_active_run_check_is_the_insert_itself(storage):
    """A user message (or a run) is inserted only WHERE the thread has no active run: no separate
    check. On SQLite, whose write lock is the database's, the whole write is that one statement."""
    thread, _ = await _thread_with_run(storage, status="completed")
    with statements(storage) as sent:
        await storage.create_message(make_message(thread["id"]))
    if storage.engine.dialect.name == "sqlite":
        assert sent == ["INSERT"]
    else:  # lock the thread's row, then insert
        assert sent == ["BEGIN", "SELECT", "INSERT", "COMMIT"]
    with statements(storage) as sent:
        await storage.create_run(make_run(thread["id"]), [make_message(thread["id"])])
    if storage.engine.dialect.name == "sqlite":
        assert sent == ["BEGIN", "INSERT", "INSERT", "COMMIT"]
    else:
        assert sent == ["BEGIN", "SELECT", "INSERT", "INSERT", "COMMIT"]


async def test_a_refused_insert_says_why(storage):
    thread, run = await _thread_with_run(storage, status="in_progress")
    with pytest.raises(ActiveRunError) as info:
        await storage.create_message(make_message(thread["id"]))
    assert info.value.run_id == run["id"]
    with pytest.raises(ActiveRunError) as info:
        await storage.create_run(make_run(thread["id"]), [make_message(thread["id"], "additional")])
    assert info.value.run_id == run["id"]
    assert len((await storage.list_messages(thread["id"], ListQuery())).data) == 1  # nothing half-written
    for write in (lambda: storage.create_message(make_message("thread_missing")),
                  lambda: storage.create_run(make_run("thread_missing"), [])):
        with pytest.raises(KeyError):
            await write()


async def test_an_active_run_that_ends_between_insert_and_check_lets_the_insert_through(storage):
    """READ COMMITTED: the insert found the thread's run active; by the next statement it has ended
    (a run's transitions don't take the thread's lock). The insert is tried again, not refused with
    an active run that no longer is."""
    if storage.engine.dialect.name == "sqlite":
        pytest.skip("SQLite: the write holds the database's write lock, nothing ends in between")
    thread, run = await _thread_with_run(storage, status="in_progress")
    message = make_message(thread["id"])
    with status_set_after(storage, run, ["SELECT", "INSERT"], "completed") as seen:
        await storage.create_message(message)
    assert seen == ["SELECT", "INSERT", "SELECT", "INSERT"]
    assert await storage.get_message(thread["id"], message["id"]) == message
