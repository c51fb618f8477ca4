"""The ``sql`` blob store: the bytes of Files as rows of 1 MiB in a SQL database, for deployments that
want one database to back up (``[blob] plugin = "sql"``).

Tables (``schema.py``, migration 0005): ``supercompat_blobs`` maps a key to a ``blob_id`` and its
size; ``supercompat_blob_chunks`` holds each blob's bytes as numbered rows (``seq``) of at most
``CHUNK_BYTES`` (every row but the last exactly that), well within MariaDB's ``max_allowed_packet``
and PostgreSQL's ``bytea``. Bytes stream both ways: a put writes a row as soon as it has 1 MiB, a
read fetches one row at a time.

All or nothing, across processes:

- A put writes its chunks under a new ``blob_id`` nobody reads, each row in a short statement of its
  own (other writers interleave, even on SQLite), then, in one short transaction, points the key at
  the new blob. Two puts on one key serialize on the key's row (on SQLite, on the write lock); the
  last to commit wins and the other's blob is discarded as a replaced one.
- A replaced or deleted blob is not removed at once: its ``blob_id`` is noted under a marker row
  (``~gone/<blob_id>``, outside the key alphabet) and its chunks stay ``sweep_after_seconds`` (15
  minutes by default), so a read under way finishes with the bytes it started with.
- A put under way is noted the same way (``~put/<blob_id>``, its time renewed while it writes, every
  quarter of ``sweep_after_seconds`` and at most every minute; ``sweep_after_seconds`` is at least
  ``SWEEP_AFTER_MIN_S``). One that fails or is cancelled removes its chunks before it raises; one whose
  process dies leaves the marker and its chunks.
- The sweep removes the chunks of every marker older than ``sweep_after_seconds`` (a put's marker
  claimed first by a conditional update that makes it a gone one, so a put that renewed it keeps it),
  in transactions of at most ``SWEEP_CHUNKS`` rows, then the marker. It runs in the background, started
  by a store's first put or delete and then every ``SWEEP_EVERY_S`` by the next one (never awaited by
  them); ``await store.sweep()`` runs it now. A put silent longer than that (a stalled upload) finds its
  marker swept and fails, leaving nothing. Markers hold the writing process's clock: processes sharing
  a database need clocks that agree to well within ``sweep_after_seconds``.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import exc as sa_exc

from supercompat.blobs import (
    CHUNK_BYTES,
    BlobNotFound,
    Sweeper,
    check_key,
    check_range,
    check_sweep_after,
    heartbeat_s,
)
from supercompat.errors import ConfigError
from supercompat.loop import finish

from .adapter import SQLAlchemyStorageAdapter
from .schema import blob_chunks, blobs

log = logging.getLogger(__name__)

PUT_MARK = "~put/"  # a put under way: the chunks it has written so far
GONE_MARK = "~gone/"  # a blob replaced or deleted: its chunks, kept a while for reads under way
MARKS = "~"  # every marker sorts at or after this, every key before it (keys' characters are at most "z")
SWEEP_AFTER_S = 900.0
SWEEP_EVERY_S = 300.0
SWEEP_BATCH = 100  # markers looked up at a time
SWEEP_CHUNKS = 16  # chunk rows removed in one transaction: short ones, so writers (SQLite's lock) interleave
POINT_ATTEMPTS = 5


class BlobSwept(RuntimeError):
    """A put was silent longer than ``sweep_after_seconds``: the sweep took its chunks."""


class SQLBlobStore:
    """Blobs in a SQL database: the storage adapter's (``db``, or by ``wire(app)``), or one of its own."""

    def __init__(self, db: SQLAlchemyStorageAdapter | None = None, *, owns_db: bool = False,
                 sweep_after_seconds: float = SWEEP_AFTER_S) -> None:
        self._db = db
        self._owns_db = owns_db
        self.sweep_after_seconds = check_sweep_after(sweep_after_seconds)
        self._heartbeat = heartbeat_s(sweep_after_seconds)
        self._sweeper = Sweeper(self.sweep, SWEEP_EVERY_S, "the sql blob store")

    # -- wiring and life cycle ---------------------------------------------------------------------
    def wire(self, app: Any) -> None:
        """Without a database of its own, the store keeps its rows in the App's storage database."""
        if self._db is not None:
            return
        if not isinstance(app.storage, SQLAlchemyStorageAdapter):
            raise ConfigError(
                f"The sql blob store keeps its rows in the storage adapter's database unless it is given "
                f"a url of its own, and this App's storage is not a SQL database "
                f"({type(app.storage).__name__}): set [blob] url = \"...\" (or sql_blob_store(url=...)), "
                f"or use [storage] plugin = \"sqlalchemy\".")
        self._db = app.storage

    @property
    def db(self) -> SQLAlchemyStorageAdapter:
        if self._db is None:
            raise ConfigError("The sql blob store has no database yet: give it url=..., or pass it to an App "
                              "whose storage adapter is sqlalchemy (the App wires it).")
        return self._db

    def ready_to_fork(self) -> bool:
        return not self._owns_db or self.db.ready_to_fork()

    def after_fork(self) -> None:
        self._sweeper.after_fork()
        if self._owns_db:  # a database shared with the storage adapter is renewed by the App, once
            self.db.after_fork()

    async def close(self) -> None:
        await self._sweeper.close()
        if self._owns_db and self._db is not None:
            await self._db.close()

    # -- put -----------------------------------------------------------------------------------------
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        check_key(key)
        self._sweeper.due()
        blob_id = secrets.token_hex(16)
        mark = PUT_MARK + blob_id
        try:
            # Within the try: if the caller is cancelled while the marker goes in, it goes in all the same
            # (finish) and _discard removes it.
            await finish(self._insert_mark(mark, blob_id))
            size, seq, buffer = 0, 0, bytearray()
            beat = time.monotonic()
            async for chunk in chunks:
                before = len(buffer)
                buffer += chunk  # its bytes, whatever the item size of a memoryview
                size += len(buffer) - before
                while len(buffer) >= CHUNK_BYTES:
                    row = bytes(memoryview(buffer)[:CHUNK_BYTES])  # one copy, and the view let go at once
                    await finish(self._write_chunk(blob_id, seq, row))
                    del buffer[:CHUNK_BYTES]
                    seq += 1
                if time.monotonic() - beat >= self._heartbeat:
                    await finish(self._beat(mark))
                    beat = time.monotonic()
            if buffer:
                await finish(self._write_chunk(blob_id, seq, bytes(buffer)))
            await finish(self._point(key, mark, blob_id, size))
            return size
        except BaseException:
            try:
                await finish(self._discard(mark, blob_id))
            except Exception:  # the database went away too: the sweep removes them later
                log.warning("could not remove the chunks of a failed put (blob %s); the sweep will", blob_id,
                            exc_info=True)
            raise

    async def _insert_mark(self, mark: str, blob_id: str) -> None:
        async with self.db._write_one() as conn:
            await conn.execute(sa.insert(blobs).values(key=mark, blob_id=blob_id, size=0,
                                                       created_at=time.time()))

    async def _write_chunk(self, blob_id: str, seq: int, data: bytes) -> None:
        value: Any = data
        if self.db.engine.dialect.name in ("mysql", "mariadb"):
            # MySQL's drivers send values as text: bytes as hex, for UNHEX() to take back, cost a pass of
            # bytes.hex() (6 ms a MiB here) where PyMySQL's escaping of bytes costs 240 ms; and aiomysql
            # 0.3.2 can't send bytes at all with PyMySQL 1.2.3+ (aio-libs/aiomysql#1080).
            value = sa.func.unhex(data.hex())
        async with self.db._write_one() as conn:
            await conn.execute(sa.insert(blob_chunks).values(blob_id=blob_id, seq=seq, data=value))

    async def _beat(self, mark: str) -> None:
        async with self.db._write_one() as conn:
            renew = sa.update(blobs).where(blobs.c.key == mark).values(created_at=time.time())
            renewed = await conn.execute(renew)
        if not renewed.rowcount:
            raise BlobSwept(f"this put was silent longer than {self.sweep_after_seconds:.0f} s and was swept")

    async def _point(self, key: str, mark: str, blob_id: str, size: int) -> None:
        """In one transaction: the put's marker goes, the key points at the new blob, and the blob it
        pointed at before is noted as gone. A put racing this one to insert the same new key makes
        one of the two inserts fail; that one tries again and replaces the other's blob."""
        for attempt in range(POINT_ATTEMPTS):
            try:
                async with self.db._write() as conn:
                    if not (await conn.execute(sa.delete(blobs).where(blobs.c.key == mark))).rowcount:
                        raise BlobSwept(f"this put was silent longer than {self.sweep_after_seconds:.0f} s "
                                        f"and was swept")
                    now = time.time()
                    old = await self._locked_blob(conn, key)
                    if old is None:
                        await conn.execute(sa.insert(blobs).values(key=key, blob_id=blob_id, size=size,
                                                                   created_at=now))
                    else:
                        await conn.execute(sa.update(blobs).where(blobs.c.key == key).values(
                            blob_id=blob_id, size=size, created_at=now))
                        await self._note_gone(conn, *old, now)
                return
            except sa_exc.IntegrityError:
                if attempt == POINT_ATTEMPTS - 1:
                    raise

    async def _locked_blob(self, conn: Any, key: str) -> tuple[str, int] | None:
        stmt = sa.select(blobs.c.blob_id, blobs.c.size).where(blobs.c.key == key)
        row = (await conn.execute(self.db._for_update(stmt))).first()
        return None if row is None else (row[0], row[1])

    @staticmethod
    async def _note_gone(conn: Any, blob_id: str, size: int, now: float) -> None:
        await conn.execute(sa.insert(blobs).values(key=GONE_MARK + blob_id, blob_id=blob_id, size=size,
                                                   created_at=now))

    async def _discard(self, mark: str, blob_id: str) -> None:
        """A failed or cancelled put's chunks, removed with its marker. If the marker has gone, the put
        either ended after all (cancelled as it committed: its blob is the key's now, and stays) or was
        swept (then chunks it wrote since are removed here, as nothing points at them)."""
        async with self.db._write() as conn:
            if not (await conn.execute(sa.delete(blobs).where(blobs.c.key == mark))).rowcount:
                pointed = (sa.select(blobs.c.key).where(blobs.c.blob_id == blob_id, blobs.c.key < MARKS)
                           .limit(1))
                if (await conn.execute(pointed)).first() is not None:
                    return
            await conn.execute(sa.delete(blob_chunks).where(blob_chunks.c.blob_id == blob_id))

    # -- read, size, delete --------------------------------------------------------------------------
    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        check_key(key)
        check_range(start, end)
        found = await finish(self._find(key))
        if found is None:
            raise BlobNotFound(key)
        blob_id, size = found
        end = size if end is None else min(end, size)
        position = start
        while position < end:
            seq, offset = divmod(position, CHUNK_BYTES)
            data = await finish(self._chunk(blob_id, seq))
            if data is None:  # swept: replaced or deleted longer than sweep_after_seconds ago
                raise BlobNotFound(f"{key} (removed while it was being read)")
            piece = data[offset:offset + end - position] if offset or end - position < len(data) else data
            if not piece:  # a row shorter than the size recorded for its blob: never loop on it
                raise RuntimeError(f"the sql blob store's rows of {key!r} (blob {blob_id}) are shorter than "
                                   f"its recorded size, {size} bytes: chunk {seq} has {len(data)}")
            position += len(piece)
            yield piece

    async def _find(self, key: str) -> tuple[str, int] | None:
        async with self.db._read() as conn:
            stmt = sa.select(blobs.c.blob_id, blobs.c.size).where(blobs.c.key == key)
            row = (await conn.execute(stmt)).first()
        return None if row is None else (row[0], row[1])

    async def _chunk(self, blob_id: str, seq: int) -> bytes | None:
        stmt = sa.select(blob_chunks.c.data).where(blob_chunks.c.blob_id == blob_id, blob_chunks.c.seq == seq)
        async with self.db._read() as conn:
            data = (await conn.execute(stmt)).scalar()
        return None if data is None else bytes(data)

    async def size(self, key: str) -> int | None:
        check_key(key)
        found = await finish(self._find(key))
        return None if found is None else found[1]

    async def delete(self, key: str) -> bool:
        check_key(key)
        self._sweeper.due()
        return await finish(self._delete(key))

    async def _delete(self, key: str) -> bool:
        async with self.db._write() as conn:
            old = await self._locked_blob(conn, key)
            if old is None:
                return False
            await conn.execute(sa.delete(blobs).where(blobs.c.key == key))
            await self._note_gone(conn, *old, time.time())
        return True

    # -- the sweep -----------------------------------------------------------------------------------
    async def sweep(self, now: float | None = None) -> int:
        """Remove the chunks of blobs replaced or deleted, and of puts that died with their process,
        ``sweep_after_seconds`` or more ago (as of ``now``); how many blobs were removed. Puts and
        deletes start one in the background now and then (``SWEEP_EVERY_S``). Markers hold the time of
        the process that wrote them: the clocks of processes sharing a database must agree to well
        within ``sweep_after_seconds``."""
        cutoff = (time.time() if now is None else now) - self.sweep_after_seconds
        swept = 0
        while True:
            marks = await finish(self._lapsed(cutoff))
            for mark, blob_id in marks:
                swept += await self._sweep_one(mark, blob_id, cutoff)
            if len(marks) < SWEEP_BATCH:
                return swept

    async def _lapsed(self, cutoff: float) -> list[tuple[str, str]]:
        stmt = (sa.select(blobs.c.key, blobs.c.blob_id)
                .where(blobs.c.key >= MARKS, blobs.c.created_at < cutoff)
                .order_by(blobs.c.key).limit(SWEEP_BATCH))
        async with self.db._read() as conn:
            return [(row[0], row[1]) for row in (await conn.execute(stmt)).all()]

    async def _sweep_one(self, mark: str, blob_id: str, cutoff: float) -> int:
        """A lapsed put's marker is claimed by turning it, if it is still lapsed (the put did not renew
        it), into a gone marker: the put, if alive after all, then fails. A gone marker's blob is read
        by nobody new, so its chunks go in short transactions of SWEEP_CHUNKS rows, and the marker last
        (of two processes sweeping it, the one that removes the marker counts it)."""
        if mark.startswith(PUT_MARK):
            if not await finish(self._claim(mark, blob_id, cutoff)):
                return 0  # renewed, ended, or claimed by another process
            mark = GONE_MARK + blob_id
        while await finish(self._remove_chunks(blob_id)):
            pass
        return await finish(self._remove_mark(mark, blob_id))

    async def _claim(self, mark: str, blob_id: str, cutoff: float) -> bool:
        async with self.db._write_one() as conn:
            claim = (sa.update(blobs).where(blobs.c.key == mark, blobs.c.created_at < cutoff)
                     .values(key=GONE_MARK + blob_id))
            return bool((await conn.execute(claim)).rowcount)

    async def _remove_chunks(self, blob_id: str) -> bool:
        """Up to SWEEP_CHUNKS chunk rows of ``blob_id``, in one transaction; whether there were any."""
        async with self.db._write() as conn:
            first = sa.select(blob_chunks.c.seq).where(blob_chunks.c.blob_id == blob_id)
            seqs = list((await conn.execute(first.order_by(blob_chunks.c.seq).limit(SWEEP_CHUNKS))).scalars())
            if not seqs:
                return False
            await conn.execute(sa.delete(blob_chunks).where(blob_chunks.c.blob_id == blob_id,
                                                            blob_chunks.c.seq.in_(seqs)))
        return True

    async def _remove_mark(self, mark: str, blob_id: str) -> int:
        async with self.db._write() as conn:
            taken = (await conn.execute(sa.delete(blobs).where(blobs.c.key == mark))).rowcount
            # Rows a swept put wrote since its claim (it fails at its next statement on its marker and
            # removes them, but may have died meanwhile).
            await conn.execute(sa.delete(blob_chunks).where(blob_chunks.c.blob_id == blob_id))
        return 1 if taken else 0


class SQLBlobOptions(BaseModel):
    """The ``[blob]`` section for ``plugin = "sql"``."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    sweep_after_seconds: float = SWEEP_AFTER_S

    _sweep_after = field_validator("sweep_after_seconds")(check_sweep_after)


def sql_blob_store(url: str | sa.URL | None = None, *, sweep_after_seconds: float = SWEEP_AFTER_S,
                   **engine_options: Any) -> SQLBlobStore:
    """Blobs in the SQL database at ``url`` (its own connections, and the supercompat schema created
    there on first use as the storage adapter does); without ``url``, in the database of the App's
    storage adapter, which must then be ``sqlalchemy`` (the App wires it)."""
    if url is None:
        return SQLBlobStore(sweep_after_seconds=sweep_after_seconds)
    from . import sqlalchemy_storage_adapter

    return SQLBlobStore(sqlalchemy_storage_adapter(url, **engine_options), owns_db=True,
                        sweep_after_seconds=sweep_after_seconds)


def sqlite_file(url: sa.URL) -> str | None:
    """The file of a SQLite database URL; None for any other database, and for SQLite in memory."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    query = {k: (v if isinstance(v, str) else v[-1]) for k, v in url.query.items()}
    if query.get("uri", "").lower() in ("true", "1") and database.startswith("file:"):
        if query.get("mode") == "memory":
            return None
        database = database[len("file:"):]
    return None if database in ("", ":memory:") else database


__all__ = ["BlobSwept", "SQLBlobOptions", "SQLBlobStore", "sql_blob_store", "sqlite_file"]
