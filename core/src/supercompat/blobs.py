"""Blob stores: where the bytes of Files live, a plugin kind like storage (``[blob]`` in
``supercompat.toml``, hook ``register_blob_stores``). File metadata lives in the storage adapter;
a blob store only keeps bytes by key.

Keys are made by core, never by a client: ids such as ``file-…`` and ``upload_…/part_…`` (ASCII
letters, digits, ``_``, ``-`` and ``/``; 1 to 200 characters; :func:`check_key`). Keys that differ
only in case are different keys. Bytes stream in and out in chunks, so no store holds a whole file
in memory unless it is the memory store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from .loop import hold_while_running

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024  # what a store yields at a time, at most
KEY_MAX = 200
_KEY = re.compile(rf"[A-Za-z0-9_/-]{{1,{KEY_MAX}}}")

# Durable stores mark a put under way (a temporary file, a marker row) and renew the mark while bytes
# arrive, every heartbeat_s(sweep_after_seconds); a mark older than sweep_after_seconds is taken for a put
# whose process died, and swept. So the grace must leave room for several heartbeats.
HEARTBEAT_MAX_S = 60.0
SWEEP_AFTER_MIN_S = 60.0


class BlobNotFound(KeyError):
    """No blob under that key."""


def check_key(key: str) -> str:
    """``key`` if it is a valid blob key, else ValueError: every store refuses the same keys, before it
    touches anything (a filesystem store turns keys into file names; no ``..`` can get through)."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"Not a blob key: {key!r} (1 to {KEY_MAX} ASCII letters, digits, '_', '-', '/')")
    return key


def check_range(start: int, end: int | None) -> None:
    """ValueError unless ``start`` and ``end`` are offsets from the start of a blob (0 or more, ``end``
    None or at least ``start``): every store reads the same ranges. A range past a blob's end is
    empty, not an error."""
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ValueError(f"start must be an offset from the start of the blob (0 or more), not {start!r}")
    if end is not None and (isinstance(end, bool) or not isinstance(end, int) or end < start):
        raise ValueError(f"end must be None or an offset at or after start ({start}), not {end!r}")


def check_sweep_after(seconds: float) -> float:
    """``seconds`` if it is a valid ``sweep_after_seconds`` for a durable store, else ValueError: at
    least SWEEP_AFTER_MIN_S, so that a live put renews its mark several times before a sweep could
    take it for dead."""
    if not seconds >= SWEEP_AFTER_MIN_S:  # NaN too
        raise ValueError(f"sweep_after_seconds must be at least {SWEEP_AFTER_MIN_S:.0f} (a put under way "
                         f"renews its mark every sweep_after_seconds / 4, at most every "
                         f"{HEARTBEAT_MAX_S:.0f} s, and a shorter grace would sweep live puts), "
                         f"not {seconds!r}")
    return seconds


def heartbeat_s(sweep_after_seconds: float) -> float:
    """How often a put under way renews its mark: four times within the grace, at most once a minute."""
    return min(HEARTBEAT_MAX_S, sweep_after_seconds / 4)


class Sweeper:
    """Runs a store's sweep now and then, in the background: ``due()`` (from a put or delete) starts one
    if ``every`` seconds have passed since the last began and none is running; the request that calls
    it never waits for it. A failed sweep is logged and tried again next time."""

    def __init__(self, sweep: Callable[[], Awaitable[Any]], every: float, what: str) -> None:
        self._sweep = sweep
        self.every = every
        self._what = what
        self._next = 0.0  # the first put (or delete) starts one
        self._task: asyncio.Task[None] | None = None

    def due(self) -> None:
        if (self._task is not None and not self._task.done()) or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.every
        self._task = asyncio.get_running_loop().create_task(self._run())
        hold_while_running(self._task)

    async def _run(self) -> None:
        try:
            await self._sweep()
        except Exception:
            log.warning("the sweep of %s failed; it is tried again later", self._what, exc_info=True)

    async def idle(self) -> None:
        """Until the sweep under way (if any) has ended."""
        task = self._task
        if task is not None and task is not asyncio.current_task():
            await asyncio.wait((task,))

    async def close(self) -> None:
        """Stop the sweep under way (each of its steps ends first) and wait for it."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait((task,))

    def after_fork(self) -> None:
        """In a forked child: the parent's task is not this process's; the child sweeps on its own."""
        self._task, self._next = None, 0.0


@runtime_checkable
class BlobStore(Protocol):
    """Bytes by key. Every method is async; a store serves many concurrent calls."""

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store what ``chunks`` yields under ``key``, replacing what was there, and return the size.
        All or nothing: until ``put`` returns, readers see the old bytes (or none), and a put that
        fails or is cancelled part-way leaves nothing of itself behind. A cancel that lands after the
        put has committed (the new bytes are live) still raises CancelledError: the caller cannot tell
        that case from a put that left nothing, and must not assume the old bytes are still there. A
        read already under way when its blob is replaced or deleted yields the bytes it started with.
        A key outside the alphabet (:func:`check_key`) is a ValueError, in every method."""

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes under ``key`` from ``start`` up to ``end`` (exclusive; None: to the end), in
        chunks of at most CHUNK_BYTES. Raises BlobNotFound (when first iterated) for a missing key, and
        ValueError for a range :func:`check_range` refuses (negative, or ``end`` before ``start``);
        a range past the blob's end is empty."""

    async def size(self, key: str) -> int | None:
        """The size of the blob under ``key``, or None if there is none."""

    async def delete(self, key: str) -> bool:
        """Remove the blob under ``key``; whether there was one."""

    async def close(self) -> None: ...


@contextlib.asynccontextmanager
async def reading(blobs: BlobStore, key: str, start: int = 0, end: int | None = None,
                  ) -> AsyncIterator[AsyncIterator[bytes]]:
    """``blobs.read(...)``, closed when the block ends however it ends (a break, an error, a cancel
    while the reader waits at a chunk), not when it is collected: a store's reader may hold an open
    file or an S3 body, and a collected one is closed late, or never once its loop has stopped."""
    chunks = blobs.read(key, start, end)
    try:
        yield chunks
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


class MemoryBlobStore:
    """Blobs in this process's memory: for tests and the in-process default beside memory storage."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytearray] = {}  # never changed once stored: a put stores a new one

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        check_key(key)
        data = bytearray()  # grown in place: the file is held once, not as chunks and then joined
        async for chunk in chunks:
            data += chunk  # its bytes, whatever the item size of a memoryview
        self._blobs[key] = data
        return len(data)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        data = self._blobs.get(check_key(key))
        check_range(start, end)
        if data is None:
            raise BlobNotFound(key)
        view = memoryview(data)[start:end]
        for offset in range(0, len(view), CHUNK_BYTES):
            yield bytes(view[offset:offset + CHUNK_BYTES])
            await asyncio.sleep(0)  # a large download shares the loop

    async def size(self, key: str) -> int | None:
        data = self._blobs.get(check_key(key))
        return None if data is None else len(data)

    async def delete(self, key: str) -> bool:
        return self._blobs.pop(check_key(key), None) is not None

    async def close(self) -> None:
        self._blobs.clear()


def memory_blob_store() -> BlobStore:
    """Blobs in memory, gone when the process ends."""
    return MemoryBlobStore()


__all__ = ["CHUNK_BYTES", "HEARTBEAT_MAX_S", "KEY_MAX", "SWEEP_AFTER_MIN_S", "BlobNotFound", "BlobStore",
           "MemoryBlobStore", "Sweeper", "check_key", "check_range", "check_sweep_after", "heartbeat_s",
           "memory_blob_store", "reading"]
