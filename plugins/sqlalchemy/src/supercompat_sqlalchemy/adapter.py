"""SQLAlchemyStorageAdapter: the StorageAdapter contract on SQLite, PostgreSQL and MySQL/MariaDB.

The invariants live in the database, so they hold across processes sharing it:
- one active run per thread: creating a run or a user message locks the thread's row first
  (``SELECT ... FOR UPDATE``; on SQLite every write transaction is ``BEGIN IMMEDIATE``);
- conditional run transitions: read under a row lock, compare, write, in one transaction; or, where
  the database has UPDATE ... RETURNING, one ``UPDATE ... WHERE status IN (...) RETURNING``, which
  compares and writes atomically by itself;
- a thread's messages, runs and steps are deleted with it in one transaction;
- a vector store's file counts are derived from its files on every read, never kept; attaching files
  holds the store's row shared, so a store is never deleted under an attach, and deleted with its
  files and batches in one transaction;
- a lapsed lease (a run's, a job's) is claimed by a conditional write that checks the lapse again,
  so of two processes sweeping at once each run or job goes to one.
Reads run in autocommit: one round trip, no lock. So do writes that are one statement, on SQLite and
PostgreSQL: a statement is atomic on its own. Lists are index seeks on (parent, id).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supercompat import keep_inherited
from supercompat.errors import APIError, InvalidRequest, redacted
from supercompat.loop import finish
from supercompat.storage import (
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

from . import migrations
from .schema import (
    ASSISTANT,
    FILE,
    FILE_BATCH,
    ID_LENGTH,
    JOB,
    MESSAGE,
    RUN,
    STEP,
    THREAD,
    UPLOAD,
    UPLOAD_PART,
    VECTOR_STORE,
    VECTOR_STORE_FILE,
    Kind,
    file_refs,
    files,
    jobs,
    messages,
    runs,
    steps,
    threads,
    upload_parts,
    uploads,
    vector_store_file_batches,
    vector_store_files,
    vector_stores,
)

T = TypeVar("T")


class StorageUnavailable(APIError):
    """The database could not be reached or did not answer in time. Clients see ``message``, which
    names no URL or file; ``str()`` of it (the log, the command line) adds where and why."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message, status=503, type="server_error", code="storage_unavailable")
        self.detail = detail or message

    def __str__(self) -> str:
        return self.detail


_UNAVAILABLE = "The storage database is unavailable."
# What a database answers when it rolled a transaction back to break a deadlock (PostgreSQL's 40P01,
# MySQL's 1213) or to keep transactions serializable (40001): run whole again, the transaction may pass.
_CONFLICTS = frozenset({"40001", "40P01", 1213})
CONFLICT_RETRIES = 8
_BUSY = "The storage database is busy: no free connection in time."


def _whole(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` run to its end even if its caller is cancelled meanwhile; the cancel is passed on
    once it has ended. Cut off mid-statement, a pooled connection can be left holding what it had
    begun: on SQLite an ``UPDATE ... RETURNING`` whose rows were never read keeps the database's
    write lock until the connection is garbage-collected, and every other write times out."""

    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await finish(method(*args, **kwargs))

    return call


def _calls_run_whole(cls: type) -> type:
    """Every public storage call of ``cls`` made ``_whole``."""
    for name, method in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(method):
            setattr(cls, name, _whole(method))
    return cls


@_calls_run_whole
class SQLAlchemyStorageAdapter:
    def __init__(self, engine: AsyncEngine, *, owns_engine: bool = True, create_schema: bool = True) -> None:
        self.engine = engine
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._owns_engine = owns_engine
        self._create_schema = create_schema
        self._prepared = False
        self._closed = False
        self._prepare_lock = asyncio.Lock()
        self._lock_rows = engine.dialect.name != "sqlite"  # SQLite locks the whole file instead
        # UPDATE ... RETURNING: PostgreSQL, SQLite 3.35+; not MySQL/MariaDB.
        self._returning = bool(engine.dialect.update_returning)
        self._autocommit_writes = engine.dialect.name in ("sqlite", "postgresql")

    def ready_to_fork(self) -> bool:
        """On SQLite, whether no connection is in use: a statement in flight in the driver's thread holds
        SQLite's locks, which a child forked at that moment would inherit held. (Other databases are
        sockets, which the child leaves alone.)"""
        checked_out = getattr(self.engine.sync_engine.pool, "checkedout", None)  # not on every kind of pool
        return self.engine.dialect.name != "sqlite" or checked_out is None or checked_out() == 0

    def after_fork(self) -> None:
        """In a forked child (called by the App): the pooled connections are the parent's (a socket, or
        SQLite's file locks, that the parent goes on using), so the child opens its own; the inherited
        ones are neither used nor closed here (SQLAlchemy's recipe for pools after fork)."""
        keep_inherited(self.engine.sync_engine.pool)
        self.engine.sync_engine.dispose(close=False)
        self._prepare_lock = asyncio.Lock()

    @property
    def url(self) -> str:
        """The database URL with the password hidden, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    # -- connections ------------------------------------------------------------------------------
    async def _prepare(self) -> None:
        """Once, on first use: a new database gets the current schema; an older one is an error."""
        if self._closed:  # a disposed engine would quietly open new connections that nobody closes
            raise StorageUnavailable("The storage has been closed.", f"The storage for {self.url} has been closed.")
        if self._prepared:
            return
        async with self._prepare_lock:
            if not self._prepared:
                async with self._errors():
                    await migrations.ensure_current(self.engine, self.url, create=self._create_schema)
                self._prepared = True

    @asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        try:
            yield
        except sa_exc.DBAPIError as exc:
            # SQLSTATE class 22 (asyncpg's errors arrive as plain DBAPIErrors): a NUL character, text too
            # long for its column, a lone surrogate... the request's fault, not the database's.
            if isinstance(exc, sa_exc.DataError) or str(getattr(exc.orig, "sqlstate", "")).startswith("22"):
                raise InvalidRequest(f"The storage database can't store a value of this request: "
                                     f"{redacted(_reason(exc))}") from exc
            # asyncpg reports a connection dropped mid-statement as a plain DBAPIError, flagged invalidated.
            lost = isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)) or exc.connection_invalidated
            if not lost:
                raise
            raise self._unavailable(_reason(exc)) from exc
        except UnicodeEncodeError as exc:  # lone surrogates, which no database encoding takes
            raise InvalidRequest(f"The request has text that can't be stored: {exc.reason} at position "
                                 f"{exc.start}.") from exc
        except sa_exc.TimeoutError as exc:  # the pool had no free connection in time
            raise StorageUnavailable(_BUSY, f"The database at {self.url} is busy: no free connection in time.") from exc
        except (OSError, TimeoutError) as exc:
            raise self._unavailable(str(exc) or type(exc).__name__) from exc

    def _unavailable(self, reason: str) -> StorageUnavailable:
        return StorageUnavailable(_UNAVAILABLE, f"The database at {self.url} is unavailable: {reason}")

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        await self._prepare()
        async with self._errors(), self._reader.connect() as conn:
            yield conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        await self._prepare()
        async with self._errors(), self.engine.begin() as conn:
            yield conn

    def _write_one(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for a write that is one statement: atomic on its own, so on SQLite and PostgreSQL
        it runs in autocommit, without the BEGIN and COMMIT round trips. (On MySQL, switching a
        connection to autocommit and back costs two round trips itself.)"""
        return self._read() if self._autocommit_writes else self._write()

    def _for_update(self, stmt: Any) -> Any:
        """``stmt`` locking the rows it reads until the transaction ends; SQLite locks the whole file."""
        return stmt.with_for_update() if self._lock_rows else stmt

    async def _retrying(self, transaction: Callable[[], Awaitable[T]]) -> T:
        """``transaction()`` (which opens its own transaction) run again, after a short random pause,
        when the database rolled it back to break a deadlock: rolled back whole, it is safe to repeat."""
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                return await transaction()
            except (sa_exc.DBAPIError, StorageUnavailable) as exc:
                if attempt == CONFLICT_RETRIES or not _conflict(exc):
                    raise
            await asyncio.sleep(random.uniform(0, 0.01 * 2 ** attempt))
        raise AssertionError("unreachable")

    async def _one(self, kind: Kind, *where: Any) -> Obj | None:
        async with self._read() as conn:
            row = (await conn.execute(sa.select(kind.table).where(*where))).first()
        return kind.obj(row) if row is not None else None

    async def _locked(self, conn: AsyncConnection, kind: Kind, *where: Any) -> Obj | None:
        stmt = sa.select(kind.table).where(*where)
        row = (await conn.execute(self._for_update(stmt))).first()
        return kind.obj(row) if row is not None else None

    async def _update(self, kind: Kind, where: Sequence[Any], changes: Obj, *,
                      expected_status: frozenset[str] | None = None, expected: Obj | None = None,
                      also: Obj | None = None) -> Obj | None:
        """``expected``: values (JSON ones included, such as a file's ``job_id``) the row must have,
        compared as read under its lock."""
        if self._returning and changes and expected is None and all(k in kind.columns for k in changes):
            return await self._update_returning(kind, where, changes, expected_status, also)
        async with self._write() as conn:
            current = await self._locked(conn, kind, *where)
            if current is None:
                return None
            if expected_status is not None and current["status"] not in expected_status:
                raise StaleStatusError(current)
            if expected is not None and any(current.get(k) != v for k, v in expected.items()):
                raise StaleStatusError(current)
            new = {**current, **changes}
            row = kind.row(new)
            values = {k: row[k] for k in changes if k in row}
            # A key with no column of its own lives in extra, and so may a hidden key (set to None).
            if len(values) < len(changes) or any(k in kind.hidden for k in changes):
                values["extra"] = row["extra"]
            values.update(also or {})
            if values:
                this_row = [kind.table.c[k] == current[k] for k in kind.key]
                await conn.execute(sa.update(kind.table).where(*this_row).values(values))
        return new

    async def _update_returning(self, kind: Kind, where: Sequence[Any], changes: Obj,
                                expected_status: frozenset[str] | None, also: Obj | None) -> Obj | None:
        """``_update`` as one ``UPDATE ... WHERE status IN (...) RETURNING``, in autocommit: the database
        compares and writes atomically, in one round trip. Only when no row matched does a read tell a
        missing row from a stale status (and if the status is back in ``expected_status`` by then, the
        update is tried again)."""
        row = kind.row(changes)
        values = {**{k: row[k] for k in changes}, **(also or {})}
        stmt = sa.update(kind.table).where(*where)
        if expected_status is not None:
            stmt = stmt.where(kind.table.c.status.in_(sorted(expected_status)))
        stmt = stmt.values(values).returning(*kind.table.columns)
        while True:
            async with self._write_one() as conn:
                updated = (await conn.execute(stmt)).first()
            if updated is not None:
                # The object as the read-then-write path returns it: the stored row, with the values
                # of ``changes`` as given (not as they read back: 1 stays 1, not 1.0).
                return {**kind.obj(updated), **changes}
            current = await self._one(kind, *where)
            if current is None:
                return None
            if expected_status is not None and current["status"] not in expected_status:
                raise StaleStatusError(current)

    async def _page(self, kind: Kind, query: ListQuery, *where: Any) -> Page:
        id_ = kind.table.c.id
        asc = query.order == "asc"
        stmt = sa.select(kind.table).where(*where)
        if query.after:
            stmt = stmt.where(id_ > query.after if asc else id_ < query.after)
        if query.before:
            stmt = stmt.where(id_ < query.before if asc else id_ > query.before)
        # Paging forward takes the range's start in list order; `before` alone pages backward, so it
        # takes the items nearest the cursor (as the memory store does).
        from_low_end = asc == (query.after is not None or query.before is None)
        stmt = stmt.order_by(id_.asc() if from_low_end else id_.desc()).limit(query.limit + 1)
        async with self._read() as conn:
            rows = (await conn.execute(stmt)).all()
        has_more = len(rows) > query.limit
        data = [kind.obj(r) for r in rows[:query.limit]]
        if from_low_end != asc:
            data.reverse()
        return Page(data, has_more)

    async def _insert(self, conn: AsyncConnection, kind: Kind, objs: Sequence[Obj], **columns: Any) -> None:
        if objs:
            await conn.execute(sa.insert(kind.table), [{**kind.row(o), **columns} for o in objs])

    async def _lock_thread(self, conn: AsyncConnection, thread_id: str) -> bool:
        """Whether the thread exists; where rows are locked, it stays locked until the transaction ends."""
        stmt = sa.select(threads.c.id).where(threads.c.id == thread_id)
        return (await conn.execute(self._for_update(stmt))).first() is not None

    def _insert_where(self, kind: Kind, obj: Obj, condition: Any, **columns: Any) -> Any:
        """``INSERT INTO ... SELECT <the object's values> WHERE <condition>``: the row is written only if
        the condition holds when the statement runs (rowcount 1), in the same statement."""
        row = {**kind.row(obj), **columns}
        values = sa.select(*(sa.literal(v, kind.table.c[k].type) for k, v in row.items())).where(condition)
        return sa.insert(kind.table).from_select(list(row), values)

    async def _create_in_idle_thread(self, kind: Kind, obj: Obj, thread_id: str, messages: Sequence[Obj] = (),
                                     **columns: Any) -> None:
        """Insert ``obj`` (a run, or a user message) and ``messages`` only if the thread exists and has no
        active run: KeyError / ActiveRunError otherwise.

        The thread's row lock (on SQLite, the database's write lock) makes of two racing writers one
        wait for the other. The active-run check is the ``WHERE`` of the insert itself, a statement
        started once the lock is held (so under READ COMMITTED it sees the other writer's run)."""
        idle = ~sa.exists().where(runs.c.thread_id == thread_id, runs.c.status.in_(sorted(ACTIVE_RUN_STATUSES)))
        if not self._lock_rows:  # no row lock to take, so nothing else has checked that the thread exists
            idle = sa.and_(sa.exists().where(threads.c.id == thread_id), idle)
        insert = self._insert_where(kind, obj, idle, **columns)
        if not self._lock_rows and not messages:
            # SQLite: one statement, atomic on its own (it holds the write lock while it runs).
            async with self._write_one() as conn:
                if (await conn.execute(insert)).rowcount:
                    return
        async with self._write() as conn:
            if self._lock_rows and not await self._lock_thread(conn, thread_id):
                raise KeyError(thread_id)
            while not (await conn.execute(insert)).rowcount:
                if not self._lock_rows and not await self._lock_thread(conn, thread_id):
                    raise KeyError(thread_id)
                active = await self._active_run(conn, thread_id)
                if active is not None:
                    raise ActiveRunError(thread_id, active["id"])
                # The active run ended between the two statements (READ COMMITTED): try again.
            await self._insert(conn, MESSAGE, messages)

    # -- assistants -------------------------------------------------------------------------------
    async def create_assistant(self, assistant: Obj) -> Obj:
        refers = bool(code_interpreter_file_ids(assistant))
        async with (self._write() if refers else self._write_one()) as conn:
            await self._insert(conn, ASSISTANT, [assistant])
            await self._refer(conn, assistant)
        return assistant

    async def get_assistant(self, assistant_id: str) -> Obj | None:
        return await self._one(ASSISTANT, ASSISTANT.table.c.id == assistant_id)

    async def update_assistant(self, assistant_id: str, changes: Obj) -> Obj | None:
        await self._refer_first(assistant_id, changes)
        return await self._update(ASSISTANT, [ASSISTANT.table.c.id == assistant_id], changes)

    async def delete_assistant(self, assistant_id: str) -> bool:
        async with self._write() as conn:
            result = await conn.execute(sa.delete(ASSISTANT.table).where(ASSISTANT.table.c.id == assistant_id))
            await conn.execute(sa.delete(file_refs).where(file_refs.c.owner_id == assistant_id))
        return result.rowcount > 0

    async def list_assistants(self, query: ListQuery, project: str | None = None) -> Page:
        return await self._page(ASSISTANT, query, ASSISTANT.table.c.project.is_(None) if project is None
                                else ASSISTANT.table.c.project == project)

    # -- threads ----------------------------------------------------------------------------------
    async def create_thread(self, thread: Obj, messages: list[Obj]) -> Obj:
        refers = bool(code_interpreter_file_ids(thread))
        async with (self._write() if messages or refers else self._write_one()) as conn:
            await self._insert(conn, THREAD, [thread])
            await self._insert(conn, MESSAGE, messages)
            await self._refer(conn, thread)
        return thread

    async def get_thread(self, thread_id: str) -> Obj | None:
        return await self._one(THREAD, threads.c.id == thread_id)

    async def update_thread(self, thread_id: str, changes: Obj, *, expected: Obj | None = None) -> Obj | None:
        await self._refer_first(thread_id, changes)
        return await self._update(THREAD, [threads.c.id == thread_id], changes, expected=expected)

    async def list_threads(self, query: ListQuery, project: str | None = None) -> Page:
        return await self._page(THREAD, query, threads.c.project.is_(None) if project is None
                                else threads.c.project == project)

    async def delete_thread(self, thread_id: str) -> bool:
        async with self._write() as conn:
            # Lock the parents first: a run still writing its messages and steps then waits for the
            # delete and fails on the missing parent, instead of slipping a child in that fails the delete.
            if self._lock_rows:
                await self._lock_thread(conn, thread_id)
                await conn.execute(self._for_update(sa.select(runs.c.id).where(runs.c.thread_id == thread_id)))
            for table in (steps, runs, messages):
                await conn.execute(sa.delete(table).where(table.c.thread_id == thread_id))
            result = await conn.execute(sa.delete(threads).where(threads.c.id == thread_id))
            await conn.execute(sa.delete(file_refs).where(file_refs.c.owner_id == thread_id))
        return result.rowcount > 0

    # -- messages ---------------------------------------------------------------------------------
    async def create_message(self, message: Obj) -> Obj:
        if message.get("run_id") is None:
            await self._create_in_idle_thread(MESSAGE, message, message["thread_id"])
        else:
            async with self._write_one() as conn:
                await self._insert(conn, MESSAGE, [message])
        return message

    async def get_message(self, thread_id: str, message_id: str) -> Obj | None:
        return await self._one(MESSAGE, messages.c.id == message_id, messages.c.thread_id == thread_id)

    async def update_message(self, thread_id: str, message_id: str, changes: Obj) -> Obj | None:
        return await self._update(MESSAGE, [messages.c.id == message_id, messages.c.thread_id == thread_id], changes)

    async def delete_message(self, thread_id: str, message_id: str) -> bool:
        async with self._write_one() as conn:
            result = await conn.execute(sa.delete(messages).where(messages.c.id == message_id,
                                                                  messages.c.thread_id == thread_id))
        return result.rowcount > 0

    async def list_messages(self, thread_id: str, query: ListQuery, *, run_id: str | None = None) -> Page:
        where = [messages.c.thread_id == thread_id]
        if run_id is not None:
            where.append(messages.c.run_id == run_id)
        return await self._page(MESSAGE, query, *where)

    # -- runs -------------------------------------------------------------------------------------
    async def create_run(self, run: Obj, messages: list[Obj]) -> Obj:
        await self._create_in_idle_thread(RUN, run, run["thread_id"], messages, heartbeat_at=time.time())
        return run

    async def get_run(self, thread_id: str, run_id: str) -> Obj | None:
        return await self._one(RUN, runs.c.id == run_id, runs.c.thread_id == thread_id)

    async def update_run(self, thread_id: str, run_id: str, changes: Obj, *,
                         expected_status: frozenset[str] | None = None) -> Obj | None:
        return await self._update(RUN, [runs.c.id == run_id, runs.c.thread_id == thread_id], changes,
                                  expected_status=expected_status, also={"heartbeat_at": time.time()})

    async def list_runs(self, thread_id: str, query: ListQuery) -> Page:
        return await self._page(RUN, query, runs.c.thread_id == thread_id)

    async def get_active_run(self, thread_id: str) -> Obj | None:
        async with self._read() as conn:
            return await self._active_run(conn, thread_id)

    @staticmethod
    async def _active_run(conn: AsyncConnection, thread_id: str) -> Obj | None:
        stmt = sa.select(runs).where(runs.c.thread_id == thread_id, runs.c.status.in_(sorted(ACTIVE_RUN_STATUSES)))
        row = (await conn.execute(stmt.limit(1))).first()
        return RUN.obj(row) if row is not None else None

    # -- leases (runs and jobs) --------------------------------------------------------------------
    @staticmethod
    def _leases(kind: str) -> tuple[Kind, list[Any], Any]:
        """Where the leases of ``kind`` live: the table, which of its rows hold a lease that may lapse,
        and which of them have a cancel requested."""
        if kind == RUN_LEASE:
            return RUN, [runs.c.status.in_(sorted(EXECUTING_RUN_STATUSES))], runs.c.status == "cancelling"
        held = [jobs.c.kind == kind, jobs.c.status == JOB_RUNNING]
        return JOB, held, sa.and_(jobs.c.cancel_requested, jobs.c.status == JOB_RUNNING)

    async def renew_leases(self, kind: str, leases: Collection[Any]) -> list[str]:
        if not leases:
            return []
        lease, held, cancelled = self._leases(kind)
        table = lease.table
        if kind == RUN_LEASE:
            where = [table.c.id.in_(list(leases))]
        else:  # a job's lease is its attempt's: a former holder renews nothing
            where = [sa.tuple_(table.c.id, table.c.attempt).in_([tuple(pair) for pair in leases]), *held]
        renew = sa.update(table).where(*where).values(heartbeat_at=time.time())
        if self._returning:  # one statement: renew, and read back which are cancelled
            async with self._write_one() as conn:
                rows = (await conn.execute(renew.returning(table.c.id, cancelled.label("cancelled")))).all()
            return [row[0] for row in rows if row[1]]
        async with self._write() as conn:
            await conn.execute(renew)
            found = await conn.execute(sa.select(table.c.id).where(*where, cancelled))
        return list(found.scalars())

    async def claim_lapsed(self, kind: str, silent_since: float, *, scope: str | None = None,
                           limit: int = 100) -> list[Obj]:
        lease, held, _ = self._leases(kind)
        table = lease.table
        where = [*held, table.c.heartbeat_at < silent_since]
        if scope is not None and kind == RUN_LEASE:
            where.append(runs.c.thread_id == scope)
        values: dict[str, Any] = {"heartbeat_at": time.time()}
        if kind != RUN_LEASE:
            values["attempt"] = table.c.attempt + 1
        lapsed = sa.select(table.c.id).where(*where).order_by(table.c.id).limit(limit)
        async with self._read() as conn:  # a sweep that finds nothing, the usual case, writes nothing
            found = list((await conn.execute(lapsed)).scalars())
        if not found:
            return []
        where.append(table.c.id.in_(found))
        if self._returning:
            # One UPDATE that checks the lapse again takes each row for one claimer: SQLite runs one
            # writer at a time, and PostgreSQL checks the WHERE again on a row another claimer changed.
            claim = sa.update(table).where(*where).values(values).returning(*table.columns)
            async with self._write_one() as conn:
                rows = (await conn.execute(claim)).all()
            return sorted((lease.obj(row) for row in rows), key=lambda obj: obj["id"])
        # MySQL/MariaDB (no UPDATE ... RETURNING): lock the rows still lapsed, skipping those another
        # claimer has locked (a locking read sees the latest committed heartbeat), then take them.
        async with self._write() as conn:
            stmt = sa.select(table).where(*where).order_by(table.c.id).with_for_update(skip_locked=True)
            claimed = [lease.obj(row) for row in (await conn.execute(stmt)).all()]
            if claimed:
                taken = table.c.id.in_([o["id"] for o in claimed])
                await conn.execute(sa.update(table).where(taken).values(values))
        if kind != RUN_LEASE:
            claimed = [{**o, "attempt": o["attempt"] + 1} for o in claimed]
        return claimed

    # -- jobs ---------------------------------------------------------------------------------------
    async def create_job(self, job: Obj) -> Obj:
        async with self._write_one() as conn:
            await self._insert(conn, JOB, [job], heartbeat_at=time.time())
        return job

    async def get_job(self, job_id: str) -> Obj | None:
        return await self._one(JOB, jobs.c.id == job_id)

    async def update_job(self, job_id: str, attempt: int, changes: Obj) -> Obj | None:
        held = [jobs.c.id == job_id, jobs.c.attempt == attempt, jobs.c.status == JOB_RUNNING]
        return await self._update(JOB, held, changes, also={"heartbeat_at": time.time()})

    async def cancel_job(self, job_id: str) -> Obj | None:
        running = [jobs.c.id == job_id, jobs.c.status == JOB_RUNNING]
        return (await self._update(JOB, running, {"cancel_requested": True})
                or await self.get_job(job_id))  # finished (returned as is), or unknown

    # -- steps ------------------------------------------------------------------------------------
    async def create_step(self, step: Obj) -> Obj:
        async with self._write_one() as conn:
            await self._insert(conn, STEP, [step])
        return step

    async def get_step(self, thread_id: str, run_id: str, step_id: str) -> Obj | None:
        return await self._one(STEP, steps.c.id == step_id, steps.c.run_id == run_id, steps.c.thread_id == thread_id)

    async def update_step(self, thread_id: str, run_id: str, step_id: str, changes: Obj) -> Obj | None:
        return await self._update(STEP, [steps.c.id == step_id, steps.c.run_id == run_id,
                                         steps.c.thread_id == thread_id], changes)

    async def list_steps(self, thread_id: str, run_id: str, query: ListQuery) -> Page:
        return await self._page(STEP, query, steps.c.run_id == run_id, steps.c.thread_id == thread_id)

    async def list_thread_steps(self, thread_id: str, query: ListQuery, *, step_type: str | None = None) -> Page:
        where = [steps.c.thread_id == thread_id]
        if step_type is not None:
            where.append(steps.c.type == step_type)
        return await self._page(STEP, query, *where)

    # -- files --------------------------------------------------------------------------------------
    async def _refer(self, conn: AsyncConnection, owner: Obj) -> None:
        """Record which files ``owner`` (an assistant or a thread) names in code_interpreter.file_ids;
        those recorded already are skipped."""
        # No file id is longer than its column: a longer name refers to no file, so nothing to record.
        file_ids = [f for f in dict.fromkeys(code_interpreter_file_ids(owner)) if len(f) <= ID_LENGTH]
        if not file_ids:
            return
        dialect = self.engine.dialect.name
        stmt: Any
        if dialect in ("sqlite", "postgresql"):
            stmt = (sqlite if dialect == "sqlite" else postgresql).insert(file_refs).on_conflict_do_nothing()
        else:
            stmt = sa.insert(file_refs).prefix_with("IGNORE")
        await conn.execute(stmt, [{"file_id": f, "owner_id": owner["id"]} for f in file_ids])

    async def _refer_first(self, owner_id: str, changes: Obj) -> None:
        """Before an update that sets ``tool_resources``: record the files it names, so the records
        are never fewer than the references (stale ones cost a detach a wasted look, no more)."""
        if "tool_resources" in changes and code_interpreter_file_ids(changes):
            async with self._write_one() as conn:
                await self._refer(conn, {"id": owner_id, "tool_resources": changes["tool_resources"]})

    async def create_file(self, file: Obj) -> Obj:
        async with self._write_one() as conn:
            await self._insert(conn, FILE, [file])
        return file

    async def get_file(self, file_id: str) -> Obj | None:
        return await self._one(FILE, files.c.id == file_id)

    async def delete_file(self, file_id: str) -> bool:
        async with self._write_one() as conn:
            result = await conn.execute(sa.delete(files).where(files.c.id == file_id))
        return result.rowcount > 0

    async def list_files(self, query: ListQuery, *, project: str | None = None,
                         purpose: str | None = None) -> Page:
        where = [files.c.project.is_(None) if project is None else files.c.project == project]
        if purpose is not None:
            where.append(files.c.purpose == purpose)
        return await self._page(FILE, query, *where)

    async def detach_file(self, file_id: str) -> list[str]:
        detached = []
        async with self._write() as conn:
            owners = (await conn.execute(self._for_update(
                sa.select(file_refs.c.owner_id).where(file_refs.c.file_id == file_id)))).scalars().all()
            for owner_id in sorted(owners):
                kind = THREAD if owner_id.startswith("thread_") else ASSISTANT
                current = await self._locked(conn, kind, kind.table.c.id == owner_id)
                resources = None if current is None else without_file(current, file_id)
                if resources is not None:
                    await conn.execute(sa.update(kind.table).where(kind.table.c.id == owner_id)
                                       .values(tool_resources=resources))
                    detached.append(owner_id)
            await conn.execute(sa.delete(file_refs).where(file_refs.c.file_id == file_id))
        return detached

    # -- uploads ------------------------------------------------------------------------------------
    async def create_upload(self, upload: Obj) -> Obj:
        async with self._write_one() as conn:
            await self._insert(conn, UPLOAD, [upload])
        return upload

    async def get_upload(self, upload_id: str) -> Obj | None:
        return await self._one(UPLOAD, uploads.c.id == upload_id)

    async def _pending_upload(self, conn: AsyncConnection, upload_id: str) -> Obj | None:
        """The upload, locked until the transaction ends, if it is pending: else StaleStatusError."""
        upload = await self._locked(conn, UPLOAD, uploads.c.id == upload_id)
        if upload is not None and upload["status"] != "pending":
            raise StaleStatusError(upload)
        return upload

    async def add_upload_part(self, part: Obj) -> Obj | None:
        async with self._write() as conn:
            if await self._pending_upload(conn, part["upload_id"]) is None:
                return None
            await self._insert(conn, UPLOAD_PART, [part])
        return part

    async def list_upload_parts(self, upload_id: str) -> list[Obj]:
        parts = upload_parts.c
        stmt = sa.select(upload_parts).where(parts.upload_id == upload_id).order_by(parts.id)
        async with self._read() as conn:
            return [UPLOAD_PART.obj(row) for row in (await conn.execute(stmt)).all()]

    async def update_upload(self, upload_id: str, changes: Obj, *,
                            expected_status: frozenset[str] | None = None) -> Obj | None:
        return await self._update(UPLOAD, [uploads.c.id == upload_id], changes,
                                  expected_status=expected_status)

    async def complete_upload(self, upload_id: str, file: Obj) -> Obj | None:
        async with self._write() as conn:
            upload = await self._pending_upload(conn, upload_id)
            if upload is None:
                return None
            await self._insert(conn, FILE, [file])
            await conn.execute(sa.update(uploads).where(uploads.c.id == upload_id)
                               .values(status="completed", file=file))
        return {**upload, "status": "completed", "file": file}

    async def list_expired_uploads(self, now: float, *, limit: int = 100) -> list[Obj]:
        stmt = (sa.select(uploads).where(uploads.c.status == "pending", uploads.c.expires_at <= int(now))
                .order_by(uploads.c.expires_at, uploads.c.id).limit(limit))
        async with self._read() as conn:
            return [UPLOAD.obj(row) for row in (await conn.execute(stmt)).all()]

    # -- vector stores --------------------------------------------------------------------------------
    # A store's file_counts and usage_bytes and a batch's file_counts are read from the files each
    # time (GROUP BY status over the (store, status, id) and (store, batch, status, id) indexes), so
    # no count can miss a write. Writes that attach files hold the store's row in a shared lock (every
    # attach at once; SQLite runs one writer at a time) that deleting the store waits for, so no file
    # is ever attached to a store being deleted.
    async def _counts(self, conn: AsyncConnection, *where: Any) -> dict[str, tuple[dict[str, int], int]]:
        """Per store, the counts of its files by status and their usage_bytes summed."""
        vsf = vector_store_files.c
        stmt = (sa.select(vsf.vector_store_id, vsf.status, sa.func.count(), sa.func.sum(vsf.usage_bytes))
                .where(*where).group_by(vsf.vector_store_id, vsf.status))
        found: dict[str, tuple[dict[str, int], int]] = {}
        for store_id, status, count, usage in (await conn.execute(stmt)).all():
            counts, total = found.get(store_id, ({}, 0))
            found[store_id] = ({**counts, status: count}, total + int(usage or 0))
        return found

    async def _shown_stores(self, conn: AsyncConnection, stores: list[Obj]) -> list[Obj]:
        """``stores`` with their file_counts and usage_bytes, derived in one query."""
        if not stores:
            return []
        store_ids = [store["id"] for store in stores]
        derived = await self._counts(conn, vector_store_files.c.vector_store_id.in_(store_ids))
        shown = []
        for store in stores:
            counts, usage = derived.get(store["id"], ({}, 0))
            derived_keys = {"usage_bytes": usage, "file_counts": file_counts(counts)}
            shown.append(VECTOR_STORE.shown(store, derived_keys))
        return shown

    async def _batch_counts(self, conn: AsyncConnection, store_id: str, batch_id: str) -> dict[str, int]:
        vsf = vector_store_files.c
        stmt = (sa.select(vsf.status, sa.func.count())
                .where(vsf.vector_store_id == store_id, vsf.batch_id == batch_id).group_by(vsf.status))
        return file_counts({status: count for status, count in (await conn.execute(stmt)).all()})

    async def _lock_store(self, conn: AsyncConnection, store_id: str) -> bool:
        """Whether the store exists; where rows are locked, it can't be deleted until the transaction
        ends (a shared lock: attaches to one store don't wait for each other)."""
        stmt = sa.select(vector_stores.c.id).where(vector_stores.c.id == store_id)
        if self._lock_rows:
            stmt = stmt.with_for_update(read=True, key_share=True)  # PostgreSQL's weakest: updates go on
        return (await conn.execute(stmt)).first() is not None

    async def _attach(self, conn: AsyncConnection, store_id: str, files: list[Obj]) -> None:
        """Insert ``files`` into the store, leaving those already attached as they are."""
        unique = {f["id"]: f for f in reversed(files)}  # the first of two with one id, as a second attach
        # In id order: two attaches of the same files lock their rows in the same order, never in a cycle.
        rows = [{**VECTOR_STORE_FILE.row(unique[i]), "vector_store_id": store_id} for i in sorted(unique)]
        if not rows:
            return
        dialect = self.engine.dialect.name
        stmt: Any
        if dialect in ("sqlite", "postgresql"):
            stmt = (sqlite if dialect == "sqlite" else postgresql).insert(vector_store_files)
            stmt = stmt.on_conflict_do_nothing()
        else:  # a no-op update rather than INSERT IGNORE, which would also turn bad values into warnings
            stmt = mysql.insert(vector_store_files)
            stmt = stmt.on_duplicate_key_update(id=vector_store_files.c.id)
        await conn.execute(stmt, rows)

    async def create_vector_store(self, store: Obj, files: list[Obj]) -> Obj:
        async with (self._write() if files else self._write_one()) as conn:
            await self._insert(conn, VECTOR_STORE, [store])
            await self._attach(conn, store["id"], files)
            [shown] = await self._shown_stores(conn, [store])
        return shown

    async def get_vector_store(self, store_id: str) -> Obj | None:
        async with self._read() as conn:
            row = (await conn.execute(sa.select(vector_stores).where(vector_stores.c.id == store_id))).first()
            if row is None:
                return None
            [shown] = await self._shown_stores(conn, [VECTOR_STORE.obj(row)])
        return shown

    async def update_vector_store(self, store_id: str, changes: Obj) -> Obj | None:
        changes = {k: v for k, v in changes.items() if k not in VECTOR_STORE.derived}
        if not changes:
            return await self.get_vector_store(store_id)
        store = await self._update(VECTOR_STORE, [vector_stores.c.id == store_id], changes)
        if store is None:
            return None
        async with self._read() as conn:
            [shown] = await self._shown_stores(conn, [store])
        return shown

    async def delete_vector_store(self, store_id: str) -> bool:
        async def delete() -> bool:
            async with self._write() as conn:
                # The store's row first: an attach holding it (shared) ends first, a later one finds no store.
                this_store = vector_stores.c.id == store_id
                if self._lock_rows and await self._locked(conn, VECTOR_STORE, this_store) is None:
                    return False
                for table in (vector_store_files, vector_store_file_batches):
                    await conn.execute(sa.delete(table).where(table.c.vector_store_id == store_id))
                result = await conn.execute(sa.delete(vector_stores).where(vector_stores.c.id == store_id))
            return result.rowcount > 0

        return await self._retrying(delete)

    async def list_vector_stores(self, query: ListQuery, *, project: str | None = None) -> Page:
        page = await self._page(VECTOR_STORE, query, vector_stores.c.project.is_(None) if project is None
                                else vector_stores.c.project == project)
        async with self._read() as conn:
            page.data = await self._shown_stores(conn, page.data)
        return page

    async def attach_files(self, store_id: str, files: list[Obj], *,
                           batch: Obj | None = None) -> list[Obj] | None:
        async def attach() -> list[Obj] | None:
            async with self._write() as conn:
                if not await self._lock_store(conn, store_id):
                    return None
                if batch is not None:
                    await self._insert(conn, FILE_BATCH, [batch], vector_store_id=store_id)
                await self._attach(conn, store_id, files)
                return await self._stored_files(conn, store_id, [f["id"] for f in files])

        return await self._retrying(attach)

    async def _stored_files(self, conn: AsyncConnection, store_id: str, file_ids: list[str]) -> list[Obj]:
        """The store's files of ``file_ids`` as now stored, in that order."""
        vsf = vector_store_files.c
        stored: dict[str, Obj] = {}
        for chunk in _chunks(list(dict.fromkeys(file_ids)), 500):  # bounded IN lists
            stmt = sa.select(vector_store_files).where(vsf.vector_store_id == store_id, vsf.id.in_(chunk))
            stored.update((row[0], VECTOR_STORE_FILE.obj(row)) for row in (await conn.execute(stmt)).all())
        return [stored[i] for i in file_ids]

    async def get_vector_store_file(self, store_id: str, file_id: str) -> Obj | None:
        vsf = vector_store_files.c
        return await self._one(VECTOR_STORE_FILE, vsf.vector_store_id == store_id, vsf.id == file_id)

    async def update_vector_store_file(self, store_id: str, file_id: str, changes: Obj, *,
                                       expected_status: frozenset[str] | None = None,
                                       expected_job: str | None = None) -> Obj | None:
        vsf = vector_store_files.c
        return await self._update(VECTOR_STORE_FILE, [vsf.vector_store_id == store_id, vsf.id == file_id],
                                  changes, expected_status=expected_status,
                                  expected=None if expected_job is None else {"job_id": expected_job})

    async def detach_vector_store_file(self, store_id: str, file_id: str) -> bool:
        vsf = vector_store_files.c
        async with self._write_one() as conn:
            result = await conn.execute(sa.delete(vector_store_files).where(vsf.vector_store_id == store_id,
                                                                            vsf.id == file_id))
        return result.rowcount > 0

    async def list_vector_store_files(self, store_id: str, query: ListQuery, *, status: str | None = None,
                                      batch_id: str | None = None) -> Page:
        # Seeks in (store, id), (store, status, id) or (store, batch, status, id); a batch's files of any
        # status are read whole and sorted (at most the 2,000 files of one batch).
        vsf = vector_store_files.c
        where = [vsf.vector_store_id == store_id]
        if status is not None:
            where.append(vsf.status == status)
        if batch_id is not None:
            where.append(vsf.batch_id == batch_id)
        return await self._page(VECTOR_STORE_FILE, query, *where)

    async def vector_stores_of_file(self, file_id: str) -> list[str]:
        vsf = vector_store_files.c
        stmt = sa.select(vsf.vector_store_id).where(vsf.id == file_id).order_by(vsf.vector_store_id)
        async with self._read() as conn:
            return list((await conn.execute(stmt)).scalars())

    async def get_file_batch(self, store_id: str, batch_id: str) -> Obj | None:
        batches = vector_store_file_batches.c
        async with self._read() as conn:
            stmt = sa.select(vector_store_file_batches).where(batches.id == batch_id,
                                                              batches.vector_store_id == store_id)
            row = (await conn.execute(stmt)).first()
            if row is None:
                return None
            counts = await self._batch_counts(conn, store_id, batch_id)
        return FILE_BATCH.shown(FILE_BATCH.obj(row), {"file_counts": counts})

    async def cancel_file_batch(self, store_id: str, batch_id: str) -> Obj | None:
        batches, vsf = vector_store_file_batches.c, vector_store_files.c

        async def cancel() -> Obj | None:
            async with self._write() as conn:
                batch = await self._locked(conn, FILE_BATCH, batches.id == batch_id,
                                           batches.vector_store_id == store_id)
                if batch is None:
                    return None
                if batch["status"] == "in_progress":
                    await conn.execute(sa.update(vector_store_file_batches).where(batches.id == batch_id)
                                       .values(status="cancelled"))
                    # Conditional, row by row: a file whose ingestion ended meanwhile keeps its ending, and an
                    # ingestion ending after this finds its file cancelled (update_vector_store_file's
                    # expected_status).
                    await conn.execute(sa.update(vector_store_files)
                                       .where(vsf.vector_store_id == store_id, vsf.batch_id == batch_id,
                                              vsf.status == "in_progress")
                                       .values(status="cancelled"))
                    batch = {**batch, "status": "cancelled"}
                counts = await self._batch_counts(conn, store_id, batch_id)
            return FILE_BATCH.shown(batch, {"file_counts": counts})

        return await self._retrying(cancel)

    # -- file bytes ---------------------------------------------------------------------------------
    def default_blob_store(self) -> Any:
        """Where the App keeps file bytes unless told otherwise: beside a SQLite file, a directory
        named after it (``supercompat.db`` -> ``supercompat.db.files/``, made on the first upload), so
        the state stays two entries to copy; for SQLite in memory and server databases, the ``sql``
        blob store in this same database."""
        from .blobs import SQLBlobStore, sqlite_file

        database = sqlite_file(self.engine.url)
        if database is None:
            return SQLBlobStore(self)
        from supercompat.blobs_filesystem import filesystem_blob_store

        return filesystem_blob_store(f"{database}.files")

    # -- vector stores' chunks -----------------------------------------------------------------------
    def default_chunk_index(self) -> Any:
        """Where the App indexes and searches vector stores' chunks unless told otherwise: this database
        (its full-text search, and vectors by pgvector or exactly; see ``search.py``)."""
        from .search import SQLChunkIndex

        return SQLChunkIndex(self)

    # -- schema and life cycle ----------------------------------------------------------------------
    async def migrate(self) -> tuple[str | None, str]:
        """Bring the schema to the current revision (``supercompat db upgrade``): (from, to)."""
        async with self._errors():
            return await migrations.upgrade(self.engine)

    async def close(self) -> None:
        self._closed = True
        if self._owns_engine:
            await self.engine.dispose()


def _conflict(exc: BaseException) -> bool:
    """Whether ``exc`` (or the database error it was raised from) is a deadlock or serialization failure."""
    error = exc if isinstance(exc, sa_exc.DBAPIError) else exc.__cause__
    if not isinstance(error, sa_exc.DBAPIError) or error.orig is None:
        return False
    args = getattr(error.orig, "args", ())
    return getattr(error.orig, "sqlstate", None) in _CONFLICTS or bool(args) and args[0] in _CONFLICTS


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _reason(exc: sa_exc.DBAPIError) -> str:
    """The driver's own words, first line only (SQLAlchemy appends the statement and a link)."""
    original = exc.orig if exc.orig is not None else exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]
