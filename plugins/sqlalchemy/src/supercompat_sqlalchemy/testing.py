"""Throwaway databases for tests: a new, uniquely named database on each server, dropped afterwards.

The servers default to the local ones CI provides; point elsewhere with
``SUPERCOMPAT_TEST_POSTGRESQL_URL`` / ``SUPERCOMPAT_TEST_MYSQL_URL`` (a URL whose user may create
databases), and choose which run with ``SUPERCOMPAT_TEST_DATABASES=sqlite,postgresql,mysql``.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from . import create_engine
from .schema import metadata

SERVERS = {
    "postgresql": os.environ.get("SUPERCOMPAT_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "mysql": os.environ.get("SUPERCOMPAT_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}
BACKENDS = [b.strip() for b in os.environ.get("SUPERCOMPAT_TEST_DATABASES", "sqlite,postgresql,mysql").split(",")
            if b.strip()]


SYNC_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}


def sync_url(url: str | sa.URL) -> sa.URL:
    """The same database through a synchronous driver (a second connection that tests drive by hand)."""
    parsed = sa.make_url(url)
    return parsed.set(drivername=SYNC_DRIVERS[parsed.get_backend_name()])


def _sync_admin(backend: str) -> sa.Engine:
    return sa.create_engine(sync_url(SERVERS[backend]), isolation_level="AUTOCOMMIT")


@contextmanager
def scratch_database(backend: str) -> Iterator[str]:
    """Yields the URL of a new empty database (a file for SQLite); drops it at the end."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="supercompat-") as folder:
            yield f"sqlite:///{Path(folder) / 'test.db'}"
        return
    name = f"supercompat_test_{secrets.token_hex(6)}"
    admin = _sync_admin(backend)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            yield sa.make_url(SERVERS[backend]).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                if backend == "postgresql":
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                else:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    finally:
        admin.dispose()


async def empty(url: str) -> None:
    """Delete every row of supercompat's tables (children first), keeping the schema."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            existing = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
            for table in reversed(metadata.sorted_tables):
                if table.name in existing:
                    await conn.execute(table.delete())
    finally:
        await engine.dispose()
