"""The schema's Alembic migrations, and the check made on first use.

A new (empty) database is brought to the current revision on first use. A database at another
revision is never used as is: the error says to run ``supercompat db upgrade``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from supercompat.errors import APIError

VERSION_TABLE = "supercompat_alembic_version"
# Alembic's `op` and `context` are process-wide proxies: two migrations interleaved on an event loop
# (two storages' first use) would run each other's statements on each other's connections.
_migrating = threading.Lock()
SCHEMA_LOCK_KEY = 0x5C0_5C4E  # the PostgreSQL advisory lock (per database) held while looking at the schema
SCHEMA_LOCK_WAIT_S = 120  # how long a process waits for another one's migration


class SchemaError(APIError):
    """The database's schema is not the one this version of the plugin needs."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=500, type="server_error", code="storage_schema")


def config(connection: Any = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "supercompat_sqlalchemy:migrations")
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None
    return revision


def current_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def _has_tables(connection: sa.Connection) -> bool:
    return any(name.startswith("supercompat_") and name != VERSION_TABLE
               for name in sa.inspect(connection).get_table_names())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, str]:
    """Apply the migrations up to ``revision``; returns (revision before, revision after)."""
    async with engine.begin() as conn, _schema_lock(conn):
        return await _upgrade(conn, revision)


async def _upgrade(conn: AsyncConnection, revision: str = "head") -> tuple[str | None, str]:
    def run(connection: sa.Connection) -> tuple[str | None, str]:
        before = current_revision(connection)
        command.upgrade(config(connection), revision)
        return before, current_revision(connection) or ""

    async with _one_migration_at_a_time():
        return await conn.run_sync(run)


@asynccontextmanager
async def _one_migration_at_a_time() -> AsyncIterator[None]:
    # Polled, not awaited in a thread: waiters may sit on different event loops, and a cancelled
    # waiter must not leave the lock taken. Migrations are rare, so the polling costs nothing.
    while not _migrating.acquire(blocking=False):
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        _migrating.release()


@asynccontextmanager
async def _schema_lock(conn: AsyncConnection) -> AsyncIterator[None]:
    """One process at a time looks at or changes the schema. MySQL commits each DDL statement at
    once, so without this a process starting mid-migration sees tables but no revision yet.
    PostgreSQL's lock ends with the transaction; SQLite's BEGIN IMMEDIATE is a lock already."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
    if dialect not in ("mysql", "mariadb"):
        yield
        return
    name = sa.text("CONCAT('supercompat_schema.', DATABASE())")
    if not (await conn.execute(sa.select(sa.func.get_lock(name, SCHEMA_LOCK_WAIT_S)))).scalar():
        raise SchemaError("Timed out waiting for another process to finish migrating the supercompat schema.")
    try:
        yield
    finally:
        await conn.execute(sa.select(sa.func.release_lock(name)))


async def ensure_current(engine: AsyncEngine, url: str, *, create: bool = True) -> None:
    wanted = head()
    async with engine.connect() as conn, _schema_lock(conn):
        current = await conn.run_sync(current_revision)
        if current == wanted:
            return
        populated = current is None and await conn.run_sync(_has_tables)
        if current is None and create and not populated:
            await _upgrade(conn)
            await conn.commit()
            return
    known = {script.revision for script in ScriptDirectory.from_config(config()).walk_revisions()}
    if current is None:
        problem = ("has supercompat tables but no schema revision" if populated
                   else "has no supercompat schema")
    elif current not in known:
        raise SchemaError(f"The database at {url} has supercompat schema revision {current}, which this "
                          f"version of supercompat-sqlalchemy does not know (a newer version migrated it). "
                          f"Upgrade supercompat-sqlalchemy.")
    else:
        problem = f"is at supercompat schema revision {current}, older than the {wanted} this version needs"
    raise SchemaError(f"The database at {url} {problem}. Run `supercompat db upgrade` (with --config FILE "
                      f"if you use one) to migrate it.")
