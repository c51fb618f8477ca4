"""supercompat storage adapter ``sqlalchemy``: state in SQLite, PostgreSQL or MySQL/MariaDB, shared by
every process that points at the same database; and the ``sql`` blob store, file bytes in one.

    from supercompat_sqlalchemy import sqlalchemy_storage_adapter
    storage = sqlalchemy_storage_adapter(url="postgresql://user:pass@host/db")
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from supercompat import hookimpl
from supercompat import loop as _loop
from supercompat.errors import ConfigError

from .adapter import SQLAlchemyStorageAdapter, StorageUnavailable
from .blobs import SQLBlobOptions, SQLBlobStore, sql_blob_store
from .migrations import SchemaError
from .search import SQLChunkIndex, SQLIndexOptions, sql_chunk_index

# Plain URLs name the async driver each database gets.
ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg",
                 "mysql": "mysql+aiomysql", "mariadb": "mysql+aiomysql"}
SYNC_DRIVERS = {"pysqlite": "aiosqlite", "psycopg2": "asyncpg", "pg8000": "asyncpg", "pymysql": "aiomysql",
                "mysqldb": "aiomysql", "mysqlconnector": "aiomysql"}
SQLITE_BUSY_TIMEOUT_S = 30
PRE_PING_IDLE_S = 1.0
_IDLE_SINCE = "supercompat_idle_since"


def async_url(url: str | sa.URL) -> sa.URL:
    """``sqlite:///x.db`` -> ``sqlite+aiosqlite:///x.db``, and likewise for PostgreSQL and MySQL;
    URLs that already name an async driver are kept."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"Not a database URL: {url!r} (expected e.g. sqlite:///supercompat.db)") from exc
    backend, _, driver = parsed.drivername.partition("+")
    if not driver and backend in ASYNC_DRIVERS:
        return parsed.set(drivername=ASYNC_DRIVERS[backend])
    if driver in SYNC_DRIVERS:
        return parsed.set(drivername=f"{ASYNC_DRIVERS[backend].partition('+')[0]}+{SYNC_DRIVERS[driver]}")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cursor.close()
    # Leave transactions to SQLAlchemy (below), not to the driver's implicit BEGIN.
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: sa.Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front: of two processes racing to create a run on one
    # thread, one waits for the other instead of both reading "no active run". Reads are autocommit.
    if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


_EMPTY_JSON = {"[]": list, "{}": dict}


def _json_loads(text: str) -> Any:
    # Most JSON cells are an empty list or object (attachments, metadata): skip the parser for them.
    empty = _EMPTY_JSON.get(text)
    return empty() if empty is not None else json.loads(text)


def create_engine(url: str | sa.URL, *, pool_size: int | None = None, max_overflow: int | None = None,
                  pool_timeout: float | None = None, pool_recycle: int | None = None,
                  pool_pre_ping: bool = True, pool_pre_ping_idle: float = PRE_PING_IDLE_S,
                  connect_timeout: float | None = 10, echo: bool = False) -> AsyncEngine:
    """An AsyncEngine set up the way the adapter needs (SQLite write locking, MySQL isolation, a
    pooled connection tested before use once it has sat idle ``pool_pre_ping_idle`` seconds)."""
    parsed = async_url(url)
    backend = parsed.get_backend_name()
    ping = pool_pre_ping and backend != "sqlite"  # a file has no connection to lose
    # hide_parameters: an error's text (and so the log) never carries the values written, model output among them
    options: dict[str, Any] = {"echo": echo, "pool_pre_ping": ping and pool_pre_ping_idle <= 0,
                               "json_deserializer": _json_loads, "hide_parameters": True}
    for name, value in (("pool_size", pool_size), ("max_overflow", max_overflow),
                        ("pool_timeout", pool_timeout), ("pool_recycle", pool_recycle)):
        if value is not None:
            options[name] = value
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_S  # sqlite3's busy timeout: wait for the write lock
    elif connect_timeout is not None:
        connect_args["timeout" if parsed.get_driver_name() == "asyncpg" else "connect_timeout"] = connect_timeout
    if backend in ("mysql", "mariadb"):
        options["isolation_level"] = "READ COMMITTED"  # see each other's commits, as PostgreSQL does
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    try:
        engine = create_async_engine(parsed, connect_args=connect_args, **options)
    except ImportError as exc:
        raise ConfigError(f"The driver for {parsed.render_as_string(hide_password=True)} is not installed "
                          f"({exc.name}): pip install 'supercompat-sqlalchemy[{_extra(backend)}]'") from exc
    except (sa.exc.ArgumentError, TypeError) as exc:
        raise ConfigError(f"Can't open {parsed.render_as_string(hide_password=True)}: {exc}") from exc
    if backend == "sqlite":
        sa.event.listen(engine.sync_engine, "do_connect", _aiosqlite_on_os_threads)
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine.sync_engine, "begin", _sqlite_begin)
    elif ping and pool_pre_ping_idle > 0:
        _ping_after_idle(engine.sync_engine, pool_pre_ping_idle)
    return engine


class _OSThread:
    """What aiosqlite needs of ``threading.Thread``, on an OS thread even under gevent."""

    def __init__(self, target: Any, args: tuple[Any, ...] = ()) -> None:
        self._run = lambda: target(*args)

    def start(self) -> None:
        _loop.start_os_thread(self._run, "supercompat-sqlite")


def _aiosqlite_on_os_threads(*_connect_args: Any) -> None:
    """Under gevent's monkey patching, aiosqlite's worker "thread" for each connection is a greenlet of
    the thread that connects, supercompat's loop thread, which never yields to a gevent hub: it would
    never run. Give it an OS thread, and Python's own queue to block that thread on. Checked as each
    connection opens: gunicorn's gevent workers patch after the fork, long after the engine was made."""
    if not _loop.gevent_patched():
        return
    import aiosqlite.core

    if hasattr(aiosqlite.core, "Thread") and hasattr(aiosqlite.core, "SimpleQueue"):
        aiosqlite.core.Thread = _OSThread  # type: ignore[misc]
        aiosqlite.core.SimpleQueue = _loop.unpatched("queue", "SimpleQueue")


def _ping_after_idle(engine: sa.Engine, idle_seconds: float) -> None:
    """SQLAlchemy's ``pool_pre_ping`` tests a connection on every checkout: a round trip before each
    storage call. A connection back from a request a moment ago can only have been dropped by a
    database restart or a network cut in that moment; one that sat idle longer is tested first, and
    if the test fails the pool replaces it unseen."""

    @sa.event.listens_for(engine, "checkin")
    def returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # a new connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa.exc.DisconnectionError(f"pooled connection failed its test: {exc}") from exc


def _extra(backend: str) -> str:
    return "mysql" if backend == "mariadb" else backend


def sqlalchemy_storage_adapter(url: str | sa.URL | None = None, *, engine: AsyncEngine | None = None,
                               create_schema: bool = True, **engine_options: Any) -> SQLAlchemyStorageAdapter:
    """Storage in a SQL database: pass ``url`` (plain ``sqlite:///``, ``postgresql://`` and
    ``mysql://`` URLs get their async driver) and optional pool settings, or your own ``engine``
    (an AsyncEngine; you keep closing it). A new database gets the schema on first use unless
    ``create_schema=False``; an older one must be migrated with ``supercompat db upgrade``."""
    if (url is None) == (engine is None):
        raise ConfigError("sqlalchemy_storage_adapter needs either url=... or engine=..., not both")
    if engine is not None:
        if not isinstance(engine, AsyncEngine):
            raise ConfigError("engine= must be a sqlalchemy.ext.asyncio.AsyncEngine (create_async_engine)")
        return SQLAlchemyStorageAdapter(engine, owns_engine=False, create_schema=create_schema)
    return SQLAlchemyStorageAdapter(create_engine(url, **engine_options), create_schema=create_schema)


class SQLAlchemyOptions(BaseModel):
    """The ``[storage]`` section for ``plugin = "sqlalchemy"``."""

    model_config = ConfigDict(extra="forbid")

    url: str = "sqlite:///supercompat.db"
    pool_size: int | None = None
    max_overflow: int | None = None
    pool_timeout: float | None = None
    pool_recycle: int | None = None
    pool_pre_ping: bool = True
    pool_pre_ping_idle: float = PRE_PING_IDLE_S
    connect_timeout: float | None = 10
    echo: bool = False
    create_schema: bool = True


def _from_options(options: SQLAlchemyOptions) -> SQLAlchemyStorageAdapter:
    return sqlalchemy_storage_adapter(**options.model_dump())


@hookimpl
def register_storage_adapters(register: Any) -> None:
    register("sqlalchemy", _from_options, SQLAlchemyOptions)


@hookimpl
def register_blob_stores(register: Any) -> None:
    register("sql", lambda options: sql_blob_store(**options.model_dump()), SQLBlobOptions)


@hookimpl
def register_chunk_indexes(register: Any) -> None:
    register("sql", lambda options: sql_chunk_index(cache_bytes=options.cache_bytes), SQLIndexOptions)


__all__ = ["SQLAlchemyOptions", "SQLAlchemyStorageAdapter", "SQLBlobOptions", "SQLBlobStore", "SQLChunkIndex",
           "SQLIndexOptions", "SchemaError", "StorageUnavailable", "async_url", "create_engine", "sql_blob_store",
           "sql_chunk_index", "sqlalchemy_storage_adapter"]
