"""BlobStoreTests: the behaviour every BlobStore must have (``supercompat.blobs``)."""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import AsyncIterator

from ..blobs import CHUNK_BYTES, BlobNotFound, BlobStore
from .kit import Kit, fixture, mark, pytest


def pattern(size: int, salt: int = 0) -> bytes:
    """``size`` bytes, every value of a byte among them, different for each ``salt``."""
    block = bytes((i * 7 + salt) % 256 for i in range(256 * 251))
    return (block * (size // len(block) + 1))[:size]


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset:offset + size]


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [bytes(chunk) async for chunk in chunks]


async def read_all(store: BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(await collect(store.read(key, start, end)))


class _Broken(Exception):
    """The failure a test's chunk source raises part-way."""


async def _failing(data: bytes) -> AsyncIterator[bytes]:
    yield data
    raise _Broken("the source failed part-way")


class BlobStoreTests(Kit, standard=True):
    """Subclass and provide an async fixture ``blob_store`` yielding an empty store."""

    @fixture
    async def blob_store(self) -> BlobStore:  # pragma: no cover - subclasses override
        raise NotImplementedError("provide a `blob_store` fixture yielding an empty store")

    # -- bytes round-trip exactly --------------------------------------------------------------
    async def test_round_trip_is_byte_exact(self, blob_store: BlobStore) -> None:
        data = pattern(300_000)
        assert await blob_store.put("file-roundtrip", chunks_of(data, 70_001)) == len(data)
        assert await read_all(blob_store, "file-roundtrip") == data
        assert await blob_store.size("file-roundtrip") == len(data)

    async def test_chunks_of_any_shape_are_taken(self, blob_store: BlobStore) -> None:
        async def odd_chunks() -> AsyncIterator[bytes | bytearray | memoryview]:
            yield b""
            yield bytearray(b"\x00\xff")
            yield memoryview(b"middle")
            yield b""
            yield b"\r\n\x00end"

        assert await blob_store.put("file-shapes", odd_chunks()) == 14  # type: ignore[arg-type]
        assert await read_all(blob_store, "file-shapes") == b"\x00\xffmiddle\r\n\x00end"

    async def test_a_memoryview_of_wider_items_counts_its_bytes(self, blob_store: BlobStore) -> None:
        wide = array("i", [1, 2, 3])  # 3 items, 12 bytes

        async def views() -> AsyncIterator[memoryview]:
            yield memoryview(wide)
            yield memoryview(array("d", [0.5]))

        data = wide.tobytes() + array("d", [0.5]).tobytes()
        assert await blob_store.put("file-wide", views()) == len(data) == 20  # type: ignore[arg-type]
        assert await blob_store.size("file-wide") == 20
        assert await read_all(blob_store, "file-wide") == data

    async def test_an_empty_blob_exists(self, blob_store: BlobStore) -> None:
        assert await blob_store.put("file-empty", chunks_of(b"")) == 0
        assert await blob_store.size("file-empty") == 0
        assert await read_all(blob_store, "file-empty") == b""

    async def test_reads_stream_in_bounded_chunks(self, blob_store: BlobStore) -> None:
        data = pattern(3 * CHUNK_BYTES + 17, salt=1)
        await blob_store.put("file-large", chunks_of(data, 300_000))
        chunks = await collect(blob_store.read("file-large"))
        assert all(len(chunk) <= CHUNK_BYTES for chunk in chunks)
        assert len(chunks) >= 4 and b"".join(chunks) == data

    @mark.parametrize("start, end", [
        (0, None), (0, 1), (10, 20), (CHUNK_BYTES - 1, CHUNK_BYTES + 1), (CHUNK_BYTES, None),
        (2 * CHUNK_BYTES + 5, None), (7, 7), (2 * CHUNK_BYTES + 100, None),
    ])
    async def test_ranges(self, blob_store: BlobStore, start: int, end: int | None) -> None:
        data = pattern(2 * CHUNK_BYTES + 100, salt=2)
        await blob_store.put("file-ranges", chunks_of(data, CHUNK_BYTES // 3))
        assert await read_all(blob_store, "file-ranges", start, end) == data[start:end]

    @mark.parametrize("start, end", [(-3, None), (0, -1), (-5, -1), (10, 5)])
    async def test_offsets_before_the_start_or_backwards_are_refused(self, blob_store: BlobStore, start: int,
                                                                     end: int | None) -> None:
        await blob_store.put("file-offsets", chunks_of(pattern(100, salt=3)))
        with pytest.raises(ValueError):
            await read_all(blob_store, "file-offsets", start, end)
        with pytest.raises(ValueError):  # before the key is looked up: the same for a missing one
            await read_all(blob_store, "file-no-offsets", start, end)

    async def test_a_range_past_the_end_is_empty(self, blob_store: BlobStore) -> None:
        await blob_store.put("file-short", chunks_of(b"short"))
        assert await read_all(blob_store, "file-short", 5) == b""
        assert await read_all(blob_store, "file-short", 9, 20) == b""
        assert await read_all(blob_store, "file-short", 3, 20) == b"rt"

    # -- missing keys --------------------------------------------------------------------------
    async def test_a_missing_key(self, blob_store: BlobStore) -> None:
        with pytest.raises(BlobNotFound):
            await read_all(blob_store, "file-missing")
        assert await blob_store.size("file-missing") is None
        assert await blob_store.delete("file-missing") is False

    async def test_delete(self, blob_store: BlobStore) -> None:
        await blob_store.put("file-gone", chunks_of(b"bytes"))
        assert await blob_store.delete("file-gone") is True
        assert await blob_store.size("file-gone") is None
        with pytest.raises(BlobNotFound):
            await read_all(blob_store, "file-gone")
        assert await blob_store.delete("file-gone") is False

    async def test_keys_are_distinct_paths(self, blob_store: BlobStore) -> None:
        keys = ["upload_a", "upload_a/part_1", "upload_a/part_2", "upload_ab", "file-A", "file-a"]
        for i, key in enumerate(keys):
            await blob_store.put(key, chunks_of(pattern(1000 + i, salt=i)))
        await blob_store.delete("upload_a")
        assert await blob_store.size("upload_a") is None
        for i, key in enumerate(keys[1:], start=1):
            assert await read_all(blob_store, key) == pattern(1000 + i, salt=i)

    @mark.parametrize("key", ["", "../escape", "a/../../b", "file-.", ".hidden", "file-a.txt", "a\\b",
                              "a\x00b", "file-\u00e9", "file a", "k" * 201, "file-a\n"])
    async def test_keys_outside_the_alphabet_are_refused(self, blob_store: BlobStore, key: str) -> None:
        with pytest.raises(ValueError):
            await blob_store.put(key, chunks_of(b"bytes"))
        with pytest.raises(ValueError):
            await read_all(blob_store, key)
        with pytest.raises(ValueError):
            await blob_store.size(key)
        with pytest.raises(ValueError):
            await blob_store.delete(key)

    async def test_the_longest_key(self, blob_store: BlobStore) -> None:
        key = "upload_" + "Az09-_/" * 27 + "x" * 4  # 200 characters, capitals and slashes among them
        assert len(key) == 200
        await blob_store.put(key, chunks_of(b"long"))
        assert await read_all(blob_store, key) == b"long"
        assert await blob_store.delete(key) is True

    # -- all or nothing ------------------------------------------------------------------------
    async def test_a_put_replaces(self, blob_store: BlobStore) -> None:
        await blob_store.put("file-replaced", chunks_of(pattern(200_000, salt=3)))
        assert await blob_store.put("file-replaced", chunks_of(b"shorter")) == 7
        assert await read_all(blob_store, "file-replaced") == b"shorter"
        assert await blob_store.size("file-replaced") == 7

    async def test_a_failed_put_leaves_nothing(self, blob_store: BlobStore) -> None:
        with pytest.raises(_Broken):
            await blob_store.put("file-failed", _failing(pattern(CHUNK_BYTES + 1)))
        assert await blob_store.size("file-failed") is None
        with pytest.raises(BlobNotFound):
            await read_all(blob_store, "file-failed")

    async def test_a_failed_replace_keeps_the_old_bytes(self, blob_store: BlobStore) -> None:
        old = pattern(5000, salt=4)
        await blob_store.put("file-kept", chunks_of(old))
        with pytest.raises(_Broken):
            await blob_store.put("file-kept", _failing(pattern(CHUNK_BYTES + 1, salt=5)))
        assert await read_all(blob_store, "file-kept") == old
        assert await blob_store.size("file-kept") == len(old)

    async def test_a_cancelled_put_leaves_the_old_bytes(self, blob_store: BlobStore) -> None:
        old = pattern(4000, salt=6)
        await blob_store.put("file-cancelled", chunks_of(old))
        started = asyncio.Event()

        async def endless() -> AsyncIterator[bytes]:
            yield pattern(CHUNK_BYTES + 1, salt=7)
            started.set()
            await asyncio.Event().wait()  # never set: only the cancel ends this source
            yield b""

        task = asyncio.ensure_future(blob_store.put("file-cancelled", endless()))
        await asyncio.wait_for(started.wait(), 30)
        assert await read_all(blob_store, "file-cancelled") == old  # readers see the old bytes meanwhile
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await read_all(blob_store, "file-cancelled") == old
        started.clear()  # and a first put, cancelled, leaves no blob at all
        fresh = asyncio.ensure_future(blob_store.put("file-never", endless()))
        await asyncio.wait_for(started.wait(), 30)
        fresh.cancel()
        await asyncio.gather(fresh, return_exceptions=True)
        assert await blob_store.size("file-never") is None
        with pytest.raises(BlobNotFound):
            await read_all(blob_store, "file-never")

    async def test_a_put_cancelled_at_any_step_leaves_nothing(self, blob_store: BlobStore) -> None:
        """Cancels land at many points of a put: before it starts, in its first awaited step (opening a
        temporary file, noting itself in the database, beginning an upload), while its source is asked
        for a chunk. Nothing of it may be left: no blob here, and each store's own fixture checks what
        it keeps behind the scenes (temporary files, marker rows, pending uploads)."""
        asked = asyncio.Event()

        async def source(slow_start: bool) -> AsyncIterator[bytes]:
            asked.set()
            if slow_start:
                await asyncio.sleep(0.01)
            yield pattern(CHUNK_BYTES + 1, salt=30)
            await asyncio.Event().wait()  # never set: only the cancel ends this source
            yield b""

        points: list[tuple[str, int, bool]] = [("steps", n, slow) for n in range(12)
                                               for slow in (False, True)]
        points += [("asked", 0, slow) for slow in (False, True)]
        points += [("sleep", n, False) for n in (1, 2, 5, 10, 20)]
        for how, n, slow in points:
            asked.clear()
            task = asyncio.ensure_future(blob_store.put("file-cancel-points", source(slow)))
            if how == "steps":
                for _ in range(n):
                    await asyncio.sleep(0)
            elif how == "asked":
                await asyncio.wait_for(asked.wait(), 30)
            else:
                await asyncio.sleep(n / 1000)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await blob_store.size("file-cancel-points") is None, (how, n, slow)
        with pytest.raises(BlobNotFound):
            await read_all(blob_store, "file-cancel-points")

    @mark.parametrize("then", ["replaced", "deleted"])
    async def test_a_read_under_way_keeps_its_bytes(self, blob_store: BlobStore, then: str) -> None:
        old = pattern(3 * CHUNK_BYTES + 5, salt=8)
        await blob_store.put("file-read-on", chunks_of(old))
        reading = blob_store.read("file-read-on")
        first = await anext(reading)
        if then == "replaced":
            await blob_store.put("file-read-on", chunks_of(pattern(3 * CHUNK_BYTES + 5, salt=9)))
        else:
            assert await blob_store.delete("file-read-on") is True
        rest = await collect(reading)
        assert bytes(first) + b"".join(rest) == old

    # -- concurrency ---------------------------------------------------------------------------
    async def test_concurrent_puts_of_distinct_keys(self, blob_store: BlobStore) -> None:
        blobs = {f"upload_c/part_{i}": pattern(150_000 + i, salt=i) for i in range(8)}
        sizes = await asyncio.gather(*(blob_store.put(k, chunks_of(v, 50_000)) for k, v in blobs.items()))
        assert sizes == [len(v) for v in blobs.values()]
        for key, data in blobs.items():
            assert await read_all(blob_store, key) == data

    async def test_concurrent_puts_of_one_key_leave_one_whole(self, blob_store: BlobStore) -> None:
        candidates = [pattern(CHUNK_BYTES + 1000 * i, salt=10 + i) for i in range(3)]
        await asyncio.gather(*(blob_store.put("file-raced", chunks_of(c, 100_000)) for c in candidates))
        final = await read_all(blob_store, "file-raced")
        assert final in candidates
        assert await blob_store.size("file-raced") == len(final)

    async def test_reads_while_writing_another_key(self, blob_store: BlobStore) -> None:
        data = pattern(2 * CHUNK_BYTES, salt=20)
        await blob_store.put("file-read", chunks_of(data))
        first, _, second = await asyncio.gather(
            read_all(blob_store, "file-read"),
            blob_store.put("file-written", chunks_of(pattern(2 * CHUNK_BYTES, salt=21))),
            read_all(blob_store, "file-read", CHUNK_BYTES),
        )
        assert first == data and second == data[CHUNK_BYTES:]
