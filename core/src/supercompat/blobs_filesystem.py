"""The ``filesystem`` blob store: one file per blob in a directory (``[blob] plugin = "filesystem"``).

A put writes a temporary file in the same directory (``.put-<random>``), flushes it to disk and
renames it over the blob's file (``os.replace``, atomic on POSIX filesystems), so a reader opens
either the old file or the new one, whole. A put that fails or is cancelled removes its temporary
file; one whose process dies leaves it, and the store removes temporary files untouched for
``sweep_after_seconds``, in the background, from its first put and every ``SWEEP_EVERY_S`` after (a
live put writes to its file at least every ``heartbeat_s(sweep_after_seconds)`` while bytes arrive, so
its modification time stays fresh; ``await store.sweep()`` sweeps now). A read keeps its file
open, so a put or delete meanwhile doesn't change what it yields. Blocking calls run in worker
threads, never on the event loop.

File names: a key (``check_key``: ASCII letters, digits, ``_``, ``-``, ``/``) in lower case with
``/`` as ``~``, and if the key has capitals, ``.`` and where they are (a hexadecimal bit mask):
``file-AbC`` is ``file-abc.a0``. No name holds ``/`` or starts with ``.``, and keys that differ only in
case never share a file, even on a case-insensitive filesystem (macOS, Windows).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator

from .blobs import (
    CHUNK_BYTES,
    BlobNotFound,
    BlobStore,
    Sweeper,
    check_key,
    check_range,
    check_sweep_after,
    heartbeat_s,
)
from .loop import finish

T = TypeVar("T")

TEMP_PREFIX = ".put-"
SWEEP_AFTER_S = 3600.0  # a temporary file untouched this long belongs to a put that died with its process
SWEEP_EVERY_S = 600.0


def file_name(key: str) -> str:
    """The name of ``key``'s file in the store's directory (ValueError for a key outside the alphabet)."""
    check_key(key)
    mask = sum(1 << i for i, c in enumerate(key) if "A" <= c <= "Z")
    name = key.lower().replace("/", "~")
    return f"{name}.{mask:x}" if mask else name


async def _blocking(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread; if the caller is cancelled, the call still ends before the
    cancel goes on, so no file is closed or removed under it."""
    return await finish(asyncio.to_thread(fn, *args))


class FilesystemBlobStore:
    """Blobs as files in ``path`` (created, with its parents, on the first put). A relative path is
    taken from the current directory when the store is made."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True,
                 sweep_after_seconds: float = SWEEP_AFTER_S) -> None:
        self.path = Path(path).absolute()
        self.fsync = fsync
        self.sweep_after_seconds = check_sweep_after(sweep_after_seconds)
        self._heartbeat = heartbeat_s(sweep_after_seconds)
        self._sweeper = Sweeper(self.sweep, SWEEP_EVERY_S, f"the filesystem blob store in {self.path}")

    def _file(self, key: str) -> Path:
        return self.path / file_name(key)

    # -- writing ---------------------------------------------------------------------------------
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        target = self._file(key)
        self._sweeper.due()
        temp = self.path / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        opened: list[BinaryIO] = []  # the file, even if the caller is cancelled while it is opened

        async def open_temp() -> None:
            opened.append(await asyncio.to_thread(self._open_temp, temp))

        try:
            await finish(open_temp())
            [f] = opened
            size, batched = 0, 0
            batch: list[bytes] = []
            beat = time.monotonic()
            async for chunk in chunks:
                data = bytes(chunk)  # a copy only of what its producer may reuse (bytearray, memoryview)
                if not data:
                    continue
                batch.append(data)
                batched += len(data)
                # A full batch is written; so is a partial one a heartbeat after the last write, so that a
                # slow put keeps its file's modification time fresh and the sweep leaves it alone.
                if batched >= CHUNK_BYTES or time.monotonic() - beat >= self._heartbeat:
                    await _blocking(_write_through, f, batch)
                    size += batched
                    batch, batched = [], 0
                    beat = time.monotonic()
            await _blocking(self._commit, f, batch, temp, target)
            return size + batched
        except BaseException:
            await _blocking(self._discard, opened, temp)
            raise

    async def sweep(self, now: float | None = None) -> list[str]:
        """Remove the temporary files of puts that died with their process (untouched for
        ``sweep_after_seconds`` as of ``now``); their names. Puts start one in the background now and
        then (``SWEEP_EVERY_S``)."""
        return await _blocking(self._sweep, now)

    def _sweep(self, now: float | None) -> list[str]:
        cutoff = (time.time() if now is None else now) - self.sweep_after_seconds
        removed: list[str] = []
        try:
            entries = list(os.scandir(self.path))
        except FileNotFoundError:
            return removed
        for entry in entries:
            if not entry.name.startswith(TEMP_PREFIX):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed.append(entry.name)
            except FileNotFoundError:
                pass  # finished, discarded or swept by another process meanwhile
        return removed

    def _open_temp(self, temp: Path) -> BinaryIO:
        """A new temporary file, readable by this user only (as mkstemp makes them): the bytes of
        uploads are their owners' business. Closed by ``_commit`` or ``_discard``."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(temp, flags, 0o600)
        except FileNotFoundError:  # no directory yet (the first put), or it was removed since
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(temp, flags, 0o600)
        return os.fdopen(fd, "wb")

    def _commit(self, f: BinaryIO, batch: list[bytes], temp: Path, target: Path) -> None:
        with f:
            f.writelines(batch)
            if self.fsync:
                os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        try:
            os.replace(temp, target)
        except FileNotFoundError as exc:
            raise OSError(f"the temporary file of this put was removed (a sweep after "
                          f"{self.sweep_after_seconds:.0f} s without a write?): {temp}") from exc
        if self.fsync:
            self._fsync_directory()

    def _fsync_directory(self) -> None:
        """The rename itself made durable (POSIX; a no-op where directories can't be opened)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    @staticmethod
    def _discard(opened: list[BinaryIO], temp: Path) -> None:
        for f in opened:
            f.close()
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass  # never made, or renamed already: the put had ended when it was cancelled

    # -- reading ---------------------------------------------------------------------------------
    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self._file(key)
        check_range(start, end)
        opening = asyncio.ensure_future(asyncio.to_thread(_open_for_reading, path))
        try:
            f = await finish(opening)
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(key) from None
        except asyncio.CancelledError:  # opened for a caller that has gone: closed here, not leaked
            if not opening.cancelled() and opening.exception() is None:
                opening.result().close()
            raise
        try:
            size = os.fstat(f.fileno()).st_size
            end = size if end is None else min(end, size)
            position = start
            while position < end:
                data = await _blocking(_read_at, f, position, min(CHUNK_BYTES, end - position))
                if not data:
                    break
                position += len(data)
                yield data
        finally:
            f.close()

    async def size(self, key: str) -> int | None:
        try:
            return (await _blocking(os.stat, self._file(key))).st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    async def delete(self, key: str) -> bool:
        try:
            await _blocking(os.unlink, self._file(key))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    async def close(self) -> None:
        await self._sweeper.close()  # nothing else is held open between calls

    def after_fork(self) -> None:
        self._sweeper.after_fork()


def _open_for_reading(path: Path) -> BinaryIO:
    return open(path, "rb", buffering=0)  # reads of 1 MiB need no buffer of Python's


def _write_through(f: BinaryIO, batch: list[bytes]) -> None:
    """``batch`` written to ``f`` and flushed from Python's buffer: the file's modification time is then
    fresh even for a batch smaller than the buffer (a heartbeat's)."""
    f.writelines(batch)
    f.flush()


def _read_at(f: BinaryIO, position: int, size: int) -> bytes:
    f.seek(position)
    return f.read(size)


class FilesystemOptions(BaseModel):
    """The ``[blob]`` section for ``plugin = "filesystem"``."""

    model_config = ConfigDict(extra="forbid")

    path: str
    fsync: bool = True
    sweep_after_seconds: float = SWEEP_AFTER_S

    _sweep_after = field_validator("sweep_after_seconds")(check_sweep_after)


def filesystem_blob_store(path: str | os.PathLike[str], *, fsync: bool = True,
                          sweep_after_seconds: float = SWEEP_AFTER_S) -> BlobStore:
    """Blobs as files in the directory ``path`` (created if missing, on the first put). ``fsync``:
    flush each blob (and its name) to disk before its put returns; ``sweep_after_seconds``: how long
    a temporary file left by a put whose process died waits before it is removed (at least
    ``SWEEP_AFTER_MIN_S``: a put under way rewrites its file every quarter of it, at most every minute)."""
    return FilesystemBlobStore(path, fsync=fsync, sweep_after_seconds=sweep_after_seconds)


__all__ = ["FilesystemBlobStore", "FilesystemOptions", "file_name", "filesystem_blob_store"]
