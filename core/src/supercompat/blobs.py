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
import re
from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol, runtime_checkable

CHUNK_BYTES = 1024 * 1024  # what a store yields at a time, at most
KEY_MAX = 200
_KEY = re.compile(rf"[A-Za-z0-9_/-]{{1,{KEY_MAX}}}")


class BlobNotFound(KeyError):
    """No blob under that key."""


def check_key(key: str) -> str:
    """``key`` if it is a valid blob key, else ValueError: every store refuses the same keys, before it
    touches anything (a filesystem store turns keys into file names; no ``..`` can get through)."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"Not a blob key: {key!r} (1 to {KEY_MAX} ASCII letters, digits, '_', '-', '/')")
    return key


@runtime_checkable
class BlobStore(Protocol):
    """Bytes by key. Every method is async; a store serves many concurrent calls."""

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store what ``chunks`` yields under ``key``, replacing what was there, and return the size.
        All or nothing: until ``put`` returns, readers see the old bytes (or none), and a put that
        fails or is cancelled part-way leaves nothing of itself behind. A read already under way when
        its blob is replaced or deleted yields the bytes it started with. A key outside the alphabet
        (:func:`check_key`) is a ValueError, in every method."""

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes under ``key`` from ``start`` up to ``end`` (exclusive; None: to the end), in
        chunks of at most CHUNK_BYTES. Raises BlobNotFound (when first iterated) for a missing key."""

    async def size(self, key: str) -> int | None:
        """The size of the blob under ``key``, or None if there is none."""

    async def delete(self, key: str) -> bool:
        """Remove the blob under ``key``; whether there was one."""

    async def close(self) -> None: ...


class MemoryBlobStore:
    """Blobs in this process's memory: for tests and the in-process default beside memory storage."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        check_key(key)
        parts = [bytes(chunk) async for chunk in chunks]
        data = b"".join(parts)
        self._blobs[key] = data
        return len(data)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        data = self._blobs.get(check_key(key))
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


__all__ = ["CHUNK_BYTES", "KEY_MAX", "BlobNotFound", "BlobStore", "MemoryBlobStore", "check_key",
           "memory_blob_store"]
