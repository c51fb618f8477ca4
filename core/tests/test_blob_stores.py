"""The memory and filesystem blob stores pass the BlobStoreTests kit; what only the filesystem store has
(file names, temporary files, the sweep, the directory); ``[blob]`` in the configuration."""

import asyncio
import os
import subprocess
import sys
import time

import pytest

from supercompat import from_config, plugins
from supercompat.blobs import CHUNK_BYTES, MemoryBlobStore, memory_blob_store
from supercompat.blobs_filesystem import TEMP_PREFIX, FilesystemBlobStore, file_name, filesystem_blob_store
from supercompat.config import load_adapters
from supercompat.errors import ConfigError
from supercompat.testing import BlobStoreTests, app_of
from supercompat.testing.blobs import chunks_of, pattern, read_all


class TestMemoryBlobStore(BlobStoreTests):
    @pytest.fixture
    async def blob_store(self):
        store = memory_blob_store()
        yield store
        await store.close()


class TestFilesystemBlobStore(BlobStoreTests):
    @pytest.fixture
    async def blob_store(self, tmp_path):
        store = filesystem_blob_store(tmp_path / "blobs")
        yield store
        await store.close()
        assert not temporary_files(tmp_path / "blobs")  # no test leaves a put's temporary file behind


def temporary_files(directory):
    if not directory.exists():
        return []
    return [name for name in os.listdir(directory) if name.startswith(TEMP_PREFIX)]


def test_file_names_are_the_keys_safely_spelt():
    assert file_name("file-abc") == "file-abc"
    assert file_name("upload_x/part_y") == "upload_x~part_y"
    assert file_name("file-AbC") == "file-abc.a0"  # capitals at positions 5 and 7: bits 0b1010_0000
    names = {file_name(key) for key in ("file-A", "file-a", "file-Aa", "file-aA", "file-AA", "upload_a/b")}
    assert len({name.lower() for name in names}) == 6  # distinct even where the filesystem ignores case
    assert len(file_name("Z" * 200)) <= 255
    for bad in ("../x", "a/../b", ".", "", "a.b"):
        with pytest.raises(ValueError):
            file_name(bad)


async def test_the_directory_is_made_on_the_first_put(tmp_path):
    where = tmp_path / "not" / "yet"
    store = filesystem_blob_store(where)
    assert await store.size("file-a") is None and await store.delete("file-a") is False
    assert not (tmp_path / "not").exists()  # reads and construction make nothing
    assert await store.put("upload_1/part_2", chunks_of(b"bytes")) == 5
    assert os.listdir(where) == ["upload_1~part_2"]
    assert (where / "upload_1~part_2").read_bytes() == b"bytes"
    assert (where / "upload_1~part_2").stat().st_mode & 0o077 == 0  # the owner's only, as mkstemp makes them


@pytest.mark.parametrize("fsync", [True, False])
async def test_a_failed_or_cancelled_put_removes_its_temporary_file(tmp_path, fsync):
    store = filesystem_blob_store(tmp_path, fsync=fsync)
    written = asyncio.Event()

    async def source(fail):
        yield pattern(2 * CHUNK_BYTES)  # past one batch: written to the temporary file
        written.set()
        if fail:
            raise OSError("the client went away")
        await asyncio.Event().wait()
        yield b""

    with pytest.raises(OSError, match="went away"):
        await store.put("file-failed", source(True))
    assert os.listdir(tmp_path) == []
    written.clear()
    task = asyncio.ensure_future(store.put("file-cancelled", source(False)))
    await written.wait()
    assert len(temporary_files(tmp_path)) == 1  # under way
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert os.listdir(tmp_path) == []


async def test_the_sweep_removes_only_the_stale_temporary_files_of_dead_puts(tmp_path):
    store = FilesystemBlobStore(tmp_path, sweep_after_seconds=600)
    await store.put("file-kept", chunks_of(b"kept"))
    stale, fresh = tmp_path / f"{TEMP_PREFIX}dead", tmp_path / f"{TEMP_PREFIX}live"
    stale.write_bytes(b"left by a put whose process died")
    fresh.write_bytes(b"a put under way in another process")
    os.utime(stale, (time.time() - 601, time.time() - 601))
    assert await store.sweep() == [stale.name]
    assert sorted(os.listdir(tmp_path)) == sorted([fresh.name, "file-kept"])
    assert await store.sweep(now=time.time() + 601) == [fresh.name]
    assert await read_all(store, "file-kept") == b"kept"


HANGING_PUT = """
import asyncio, sys
from supercompat.blobs_filesystem import filesystem_blob_store

async def source():
    yield bytes(3 * 2**20)
    print("written", flush=True)
    await asyncio.Event().wait()
    yield b""

asyncio.run(filesystem_blob_store(sys.argv[1]).put("file-crashed", source()))
"""


async def test_a_put_whose_process_dies_leaves_a_temporary_file_the_sweep_removes(tmp_path):
    store = filesystem_blob_store(tmp_path)
    await store.put("file-crashed", chunks_of(b"before"))
    worker = subprocess.Popen([sys.executable, "-c", HANGING_PUT, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        # A worker that hangs fails the test rather than hang it (the kill below ends the read).
        assert (await asyncio.wait_for(asyncio.to_thread(worker.stdout.readline), 120)).strip() == "written"
    finally:
        worker.kill()
        worker.communicate()  # and its pipes closed
    [temp] = temporary_files(tmp_path)
    assert (tmp_path / temp).stat().st_size >= 2**20  # what it had written when it died
    assert await read_all(store, "file-crashed") == b"before"  # never a partial blob
    assert await store.sweep() == []  # it might be a put under way in another process
    assert await store.sweep(now=time.time() + store.sweep_after_seconds + 1) == [temp]
    assert os.listdir(tmp_path) == ["file-crashed"]


async def test_a_store_sweeps_on_its_first_put(tmp_path):
    stale = tmp_path / f"{TEMP_PREFIX}dead"
    stale.write_bytes(b"x")
    os.utime(stale, (0, 0))
    store = filesystem_blob_store(tmp_path)
    await store.put("file-a", chunks_of(b"a"))
    await store._sweeper.idle()  # in the background
    assert os.listdir(tmp_path) == ["file-a"]


async def test_a_put_does_not_wait_for_the_sweep(tmp_path, monkeypatch):
    """The sweep scans the whole directory: a put starts it in the background and goes on."""
    store = FilesystemBlobStore(tmp_path)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_sweep(now=None):
        started.set()
        await release.wait()
        return []

    monkeypatch.setattr(store._sweeper, "_sweep", slow_sweep)
    assert await asyncio.wait_for(store.put("file-a", chunks_of(b"a")), 30) == 1
    assert started.is_set()  # begun, and still under way
    assert await asyncio.wait_for(store.put("file-b", chunks_of(b"b")), 30) == 1  # one sweep at a time
    await store.close()  # stops it
    assert not release.is_set() and store._sweeper._task is None


@pytest.mark.parametrize("seconds", [0, 30, -1, float("nan")])
def test_the_sweep_grace_leaves_room_for_heartbeats(tmp_path, seconds):
    """A put under way rewrites its temporary file every quarter of the grace (at most every minute):
    a grace too short for that would sweep live puts."""
    with pytest.raises(ValueError, match="sweep_after_seconds"):
        filesystem_blob_store(tmp_path, sweep_after_seconds=seconds)
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[blob]\nplugin = "filesystem"\npath = "{tmp_path}"\n'
                      f'sweep_after_seconds = {seconds}\n')
    with pytest.raises(ConfigError, match="sweep_after_seconds"):
        load_adapters(config)
    assert FilesystemBlobStore(tmp_path, sweep_after_seconds=60)._heartbeat == 15


async def test_a_slow_put_keeps_its_temporary_file_fresh(tmp_path, monkeypatch):
    """Bytes that trickle in (less than a batch per heartbeat) are written at each heartbeat, so the
    sweep of another process, a grace later, leaves the live put alone."""
    store = FilesystemBlobStore(tmp_path, sweep_after_seconds=60)
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    sent, more = asyncio.Event(), asyncio.Event()

    async def trickle():
        yield b"x" * 10
        clock[0] += 16  # past the 15 s heartbeat: the put writes what it has at the next chunk
        yield b"x" * 10
        sent.set()  # asked for the next: the put has handled the last one
        await more.wait()
        yield b"x" * 10

    task = asyncio.ensure_future(store.put("file-slow", trickle()))
    await asyncio.wait_for(sent.wait(), 30)
    [temp] = temporary_files(tmp_path)
    assert (tmp_path / temp).stat().st_size == 20  # written before its batch was full
    more.set()
    assert await task == 30 and await read_all(store, "file-slow") == b"x" * 30


async def test_a_put_whose_temporary_file_was_swept_fails_and_leaves_nothing(tmp_path):
    store = FilesystemBlobStore(tmp_path)
    await store.put("file-swept", chunks_of(b"old"))
    release = asyncio.Event()

    async def stalled():
        yield b"new"
        await release.wait()

    task = asyncio.ensure_future(store.put("file-swept", stalled()))
    while not temporary_files(tmp_path):
        await asyncio.sleep(0.01)
    await store.sweep(now=time.time() + store.sweep_after_seconds + 1)  # as another process, an hour later
    release.set()
    with pytest.raises(OSError, match="temporary file of this put was removed"):
        await task
    assert os.listdir(tmp_path) == ["file-swept"] and await read_all(store, "file-swept") == b"old"


def test_register_blob_stores_of_core_filesystem(tmp_path):
    spec = plugins.get_adapter_spec("blob", "filesystem")
    assert spec.plugin == "supercompat"
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[blob]\nplugin = "filesystem"\npath = "{tmp_path / "files"}"\nfsync = false\n')
    store = load_adapters(config)["blob_store"]
    assert isinstance(store, FilesystemBlobStore)
    assert (store.path, store.fsync) == (tmp_path / "files", False)
    client = from_config(config)
    assert app_of(client).blobs.path == tmp_path / "files"
    config.write_text('[blob]\nplugin = "filesystem"\n')
    with pytest.raises(ConfigError, match="path"):
        load_adapters(config)
    config.write_text('[blob]\nplugin = "memory"\n')
    assert isinstance(load_adapters(config)["blob_store"], MemoryBlobStore)



async def test_the_memory_store_holds_a_file_once():
    """Not as its chunks and then their join: a 500 MiB upload must not cost 1 GiB."""
    import tracemalloc

    store = memory_blob_store()
    size = 32 * CHUNK_BYTES

    async def source():
        for _ in range(32):
            yield bytes(CHUNK_BYTES)  # a new chunk each time, let go by its producer

    tracemalloc.start()
    try:
        assert await store.put("file-big", source()) == size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * size
    assert await store.size("file-big") == size


async def cancelled_while_opening(opener, set_opener, call):
    """Run ``call()`` with ``opener`` (the store's open, in a worker thread) held open until the task
    is cancelled, then let it finish; the files it opened."""
    import threading

    opened, release, files = threading.Event(), threading.Event(), []

    def held(*args):
        files.append(opener(*args))
        opened.set()
        release.wait(60)
        return files[-1]

    set_opener(held)
    task = asyncio.ensure_future(call())
    assert await asyncio.to_thread(opened.wait, 60)
    task.cancel()
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    return files


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts this process's open files in /proc")
async def test_a_put_cancelled_while_its_temporary_file_opens_leaves_no_file_or_handle(tmp_path,
                                                                                     monkeypatch):
    """The open ends in its worker thread after the cancel has landed: its file is closed and removed."""
    store = FilesystemBlobStore(tmp_path)
    handles = len(os.listdir("/proc/self/fd"))
    await cancelled_while_opening(store._open_temp, lambda held: monkeypatch.setattr(store, "_open_temp", held),
                                  lambda: store.put("file-x", chunks_of(b"x")))
    await store._sweeper.idle()
    assert os.listdir(tmp_path) == []
    assert len(os.listdir("/proc/self/fd")) == handles


async def test_a_read_cancelled_while_its_file_opens_closes_the_file(tmp_path, monkeypatch):
    """As for a put: the open ends in its worker thread after the cancel has landed, and the file it
    opened for nobody is closed (it was left to the collector, which warned of it, or never)."""
    from supercompat import blobs_filesystem

    store = FilesystemBlobStore(tmp_path)
    await store.put("file-x", chunks_of(b"x"))
    files = await cancelled_while_opening(
        blobs_filesystem._open_for_reading,
        lambda held: monkeypatch.setattr(blobs_filesystem, "_open_for_reading", held),
        lambda: read_all(store, "file-x"))
    assert [f.closed for f in files] == [True]
    await store.close()


@pytest.mark.parametrize("make", [memory_blob_store, lambda: None], ids=["memory", "filesystem"])
async def test_reading_closes_the_reader_when_its_consumer_is_cancelled(make, tmp_path):
    """``supercompat.blobs.reading``: a consumer cancelled between chunks (the reader waiting at its
    yield) closes the reader at once, not when it is collected."""
    from supercompat.blobs import reading

    store = make() or filesystem_blob_store(tmp_path)
    await store.put("file-x", chunks_of(b"y" * (3 * CHUNK_BYTES)))
    readers = []
    got_one = asyncio.Event()

    async def consume():
        async with reading(store, "file-x") as chunks:
            readers.append(chunks)
            async for _ in chunks:
                got_one.set()
                await asyncio.sleep(60)  # the reader waits at its yield meanwhile

    task = asyncio.ensure_future(consume())
    await got_one.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert readers[0].ag_running is False and readers[0].ag_frame is None  # closed, not just left
    await store.close()
