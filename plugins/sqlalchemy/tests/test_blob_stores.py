"""The ``sql`` blob store on SQLite, PostgreSQL and MariaDB: the BlobStoreTests kit; rows of at most
1 MiB; what failed, cancelled, crashed and replaced puts leave and what the sweep removes; puts from
two processes on one key; wiring to the storage's database; ``[blob]`` in the configuration; and the
default blob store of the SQL storage (a directory beside a SQLite file, the database otherwise)."""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from supercompat import from_config, supercompat
from supercompat.app import App
from supercompat.blobs import CHUNK_BYTES, MemoryBlobStore
from supercompat.blobs_filesystem import FilesystemBlobStore
from supercompat.cli import main
from supercompat.config import load_adapters
from supercompat.errors import ConfigError
from supercompat.loop import run_sync
from supercompat.testing import BlobStoreTests, app_of
from supercompat.testing.blobs import chunks_of, pattern, read_all
from supercompat_sqlalchemy import sql_blob_store, sqlalchemy_storage_adapter
from supercompat_sqlalchemy.blobs import GONE_MARK, PUT_MARK, BlobSwept, SQLBlobStore
from supercompat_sqlalchemy.schema import blob_chunks, blobs
from supercompat_sqlalchemy.testing import empty, sync_url

WORKER = str(Path(__file__).with_name("blob_worker.py"))


@pytest.fixture
async def store(database_url):
    """A sql blob store with connections of its own over the session's database, emptied first."""
    await empty(database_url)
    store = sql_blob_store(database_url)
    yield store
    await store.close()


class TestSQLBlobStore(BlobStoreTests):
    @pytest.fixture
    async def blob_store(self, store, database_url):
        yield store
        keys, _ = rows(database_url)
        assert not [k for k, _ in keys if k.startswith(PUT_MARK)]  # no test leaves a put's marker behind


def rows(url):
    """(key, blob_id) of every row of supercompat_blobs, and {blob_id: [chunk sizes by seq]}."""
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            keys = sorted((r.key, r.blob_id) for r in conn.execute(sa.select(blobs.c.key, blobs.c.blob_id)))
            chunks = {}
            stmt = sa.select(blob_chunks.c.blob_id, blob_chunks.c.seq, sa.func.length(blob_chunks.c.data))
            for blob_id, seq, length in conn.execute(stmt.order_by(blob_chunks.c.blob_id, blob_chunks.c.seq)):
                assert seq == len(chunks.setdefault(blob_id, []))  # numbered from 0, none missing
                chunks[blob_id].append(length)
    finally:
        engine.dispose()
    return keys, chunks


def count_chunks(url, blob_id):
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            stmt = sa.select(sa.func.count()).select_from(blob_chunks).where(blob_chunks.c.blob_id == blob_id)
            return conn.execute(stmt).scalar()
    finally:
        engine.dispose()


def set_rows(url, statement):
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(statement)
    finally:
        engine.dispose()


async def line_of(worker, timeout=120):
    """The worker's next line; a worker that hangs fails the test instead of hanging it (the caller's
    ``finally`` kills it, which ends the read)."""
    return (await asyncio.wait_for(asyncio.to_thread(worker.stdout.readline), timeout)).strip()


def later(store):
    """A moment past the store's grace, as a sweep in a process that runs later would see it."""
    return time.time() + store.sweep_after_seconds + 1


async def test_rows_hold_at_most_a_mebibyte(store, database_url):
    data = pattern(3 * CHUNK_BYTES + 5)
    await store.put("file-rows", chunks_of(data, 300_001))
    [(key, blob_id)], chunks = rows(database_url)
    assert key == "file-rows" and chunks == {blob_id: [CHUNK_BYTES] * 3 + [5]}
    await store.put("file-empty", chunks_of(b""))
    assert len(rows(database_url)[1]) == 1  # an empty blob has no chunk


async def test_a_failed_or_cancelled_put_leaves_no_row(store, database_url):
    written = asyncio.Event()

    async def source(fail):
        yield pattern(2 * CHUNK_BYTES + 1)
        written.set()
        if fail:
            raise OSError("the client went away")
        await asyncio.Event().wait()
        yield b""

    with pytest.raises(OSError):
        await store.put("file-failed", source(True))
    assert rows(database_url) == ([], {})
    written.clear()
    task = asyncio.ensure_future(store.put("file-cancelled", source(False)))
    await written.wait()
    keys, chunks = rows(database_url)
    assert [k for k, _ in keys] == [PUT_MARK + keys[0][1]] and list(chunks.values()) == [[CHUNK_BYTES] * 2]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert rows(database_url) == ([], {})


async def test_replaced_and_deleted_blobs_wait_for_the_sweep(store, database_url):
    await store.put("file-a", chunks_of(pattern(CHUNK_BYTES + 1, salt=1)))
    [(_, first)], _ = rows(database_url)
    await store.put("file-a", chunks_of(b"second"))
    await store.put("file-b", chunks_of(b"other"))
    assert await store.delete("file-b") is True
    keys, chunks = rows(database_url)
    gone = [blob_id for key, blob_id in keys if key.startswith(GONE_MARK)]
    assert first in gone and len(gone) == 2 and len(chunks) == 3  # kept for reads under way
    assert await store.sweep() == 0  # within the grace: kept
    assert await store.sweep(now=later(store)) == 2
    keys, chunks = rows(database_url)
    assert [k for k, _ in keys] == ["file-a"] and list(chunks) == [keys[0][1]]
    assert await read_all(store, "file-a") == b"second"


async def test_a_read_outlasting_the_grace_fails_rather_than_mix_blobs(store):
    await store.put("file-slow", chunks_of(pattern(2 * CHUNK_BYTES, salt=2)))
    reading = store.read("file-slow")
    await anext(reading)
    await store.put("file-slow", chunks_of(pattern(2 * CHUNK_BYTES, salt=3)))
    await store.sweep(now=later(store))
    with pytest.raises(KeyError, match="removed while it was being read"):
        await anext(reading)


async def test_a_put_silent_past_the_grace_is_swept_and_fails(store, database_url):
    await store.put("file-stalled", chunks_of(b"old"))
    written, release = asyncio.Event(), asyncio.Event()

    async def stalled():
        yield pattern(CHUNK_BYTES + 1)
        written.set()
        await release.wait()
        yield b"the rest"

    task = asyncio.ensure_future(store.put("file-stalled", stalled()))
    await written.wait()
    assert await store.sweep(now=later(store)) == 1  # taken for dead
    release.set()
    with pytest.raises(BlobSwept):
        await task
    keys, chunks = rows(database_url)
    assert [k for k, _ in keys] == ["file-stalled"] and list(chunks) == [keys[0][1]]  # "old", nothing else
    assert await read_all(store, "file-stalled") == b"old"


async def test_a_row_shorter_than_the_recorded_size_fails_the_read(store, database_url):
    """Rather than loop for ever on it."""
    await store.put("file-cut", chunks_of(pattern(2 * CHUNK_BYTES, salt=4)))
    set_rows(database_url, sa.update(blob_chunks).where(blob_chunks.c.seq == 0).values(data=b"short"))
    with pytest.raises(RuntimeError, match="shorter than its recorded size"):
        await asyncio.wait_for(read_all(store, "file-cut", 10), 60)


async def test_puts_and_deletes_do_not_wait_for_the_sweep(store, monkeypatch):
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_sweep(now=None):
        started.set()
        await release.wait()
        return 0

    monkeypatch.setattr(store._sweeper, "_sweep", slow_sweep)
    assert await asyncio.wait_for(store.put("file-a", chunks_of(b"a")), 60) == 1
    assert await asyncio.wait_for(store.delete("file-a"), 60) is True
    assert started.is_set()  # begun by the put, and still under way
    await store.close()
    assert not release.is_set() and store._sweeper._task is None


async def test_the_sweep_removes_a_large_blob_in_short_transactions(store, database_url, monkeypatch):
    """Not a blob's every row in one transaction (on SQLite, the write lock held all that time)."""
    from supercompat_sqlalchemy import blobs as sql_blobs

    monkeypatch.setattr(sql_blobs, "SWEEP_CHUNKS", 2)
    await store.put("file-big", chunks_of(pattern(5 * CHUNK_BYTES + 1, salt=5), CHUNK_BYTES))
    assert await store.delete("file-big") is True
    counted = []
    real = store._remove_chunks

    async def remove_chunks(blob_id):
        counted.append(count_chunks(database_url, blob_id))
        return await real(blob_id)

    monkeypatch.setattr(store, "_remove_chunks", remove_chunks)
    assert await store.sweep(now=later(store)) == 1
    assert counted == [6, 4, 2, 0]  # two rows a transaction
    assert rows(database_url) == ([], {})


@pytest.mark.parametrize("seconds", [0, 30, 59.9])
def test_the_sweep_grace_leaves_room_for_heartbeats(tmp_path, database_url, seconds):
    """A put under way renews its marker every quarter of the grace, at most every minute: a grace too
    short for that would sweep live puts (and the old bytes of reads under way)."""
    with pytest.raises(ValueError, match="sweep_after_seconds"):
        sql_blob_store(sweep_after_seconds=seconds)
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[blob]\nplugin = "sql"\nurl = "{database_url}"\nsweep_after_seconds = {seconds}\n')
    with pytest.raises(ConfigError, match="sweep_after_seconds"):
        load_adapters(config)
    assert sql_blob_store(sweep_after_seconds=60)._heartbeat == 15
    assert sql_blob_store()._heartbeat == 60


def spawn(*args):
    return subprocess.Popen([sys.executable, WORKER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)


async def test_a_put_whose_process_dies_leaves_rows_the_sweep_removes(store, database_url):
    await store.put("file-crashed", chunks_of(b"before"))
    worker = spawn("hang", database_url, "file-crashed")
    try:
        assert await line_of(worker) == "written"
    finally:
        worker.kill()
        worker.communicate()  # and its pipes closed
    keys, chunks = rows(database_url)
    assert sorted(k.split("/")[0] for k, _ in keys) == ["file-crashed", PUT_MARK.rstrip("/")]
    assert sorted(map(len, chunks.values())) == [1, 2]
    assert await read_all(store, "file-crashed") == b"before"  # the dead put left the key alone
    assert await store.sweep() == 0  # it might be a live put elsewhere: kept within the grace
    assert await store.sweep(now=later(store)) == 1
    keys, chunks = rows(database_url)
    assert [k for k, _ in keys] == ["file-crashed"] and list(chunks) == [keys[0][1]]


async def test_puts_on_one_key_from_two_processes(store, database_url):
    workers = [spawn("race", database_url, "file-raced", str(salt), "6") for salt in (1, 2)]
    try:
        for worker in workers:
            assert await line_of(worker) == "ready"
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            assert await line_of(worker) == "done"
    finally:
        for worker in workers:
            worker.kill()
            worker.communicate()  # and its pipes closed
    candidates = [pattern(CHUNK_BYTES + 1000 * salt + i, salt=salt) for salt in (1, 2) for i in range(6)]
    final = await read_all(store, "file-raced")
    assert final in candidates and await store.size("file-raced") == len(final)
    keys, chunks = rows(database_url)
    live = dict(keys)["file-raced"]
    assert chunks[live] == [CHUNK_BYTES, len(final) - CHUNK_BYTES]
    gone = [blob_id for key, blob_id in keys if key.startswith(GONE_MARK)]
    assert len(gone) == 11 and set(chunks) == {live, *gone}  # every other put replaced, none lost or leaked
    await store.sweep(now=later(store))
    assert rows(database_url) == ([("file-raced", live)], {live: chunks[live]})


async def test_a_store_without_url_uses_the_storage_database(storage, database_url):
    store = sql_blob_store()
    with pytest.raises(ConfigError, match="no database yet"):
        await store.size("file-x")
    store.wire(SimpleNamespace(storage=storage))  # as the App does, once it has every adapter
    assert store.db is storage
    await store.put("file-wired", chunks_of(b"in the storage's database"))
    assert [k for k, _ in rows(database_url)[0]] == ["file-wired"]
    await store.close()  # the storage's connections are the storage's to close
    assert await storage.get_thread("thread_none") is None


def test_a_store_without_url_needs_sql_storage():
    with pytest.raises(ConfigError, match="storage is not a SQL database"):
        App(blob_store=sql_blob_store())


def test_register_blob_stores_sql(tmp_path, database_url):
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[blob]\nplugin = "sql"\nurl = "{database_url}"\nsweep_after_seconds = 60\n')
    store = load_adapters(config)["blob_store"]
    assert isinstance(store, SQLBlobStore) and store.sweep_after_seconds == 60
    run_sync(store.close())
    config.write_text(f'[storage]\nplugin = "sqlalchemy"\nurl = "{database_url}"\n[blob]\nplugin = "sql"\n')
    app = app_of(from_config(config))
    assert app.blobs.db is app.storage
    config.write_text('[blob]\nplugin = "sql"\n')  # memory storage, no url
    with pytest.raises(ConfigError, match=r"\[blob\] url"):
        from_config(config)
    config.write_text('[blob]\nplugin = "sql"\nurls = "x"\n')
    with pytest.raises(ConfigError, match="urls"):
        load_adapters(config)
    run_sync(app.storage.close())


@pytest.mark.parametrize("url, directory", [
    ("sqlite:///{tmp}/supercompat.db", "{tmp}/supercompat.db.files"),
    ("sqlite+aiosqlite:///{tmp}/state", "{tmp}/state.files"),
    ("sqlite:///file:{tmp}/uri.db?uri=true", "{tmp}/uri.db.files"),
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("sqlite:///file:shared?mode=memory&cache=shared&uri=true", None),
])
def test_the_default_blob_store_beside_sqlite(tmp_path, url, directory):
    storage = sqlalchemy_storage_adapter(url.format(tmp=tmp_path))
    store = storage.default_blob_store()
    if directory is None:
        assert isinstance(store, SQLBlobStore) and store.db is storage
    else:
        assert isinstance(store, FilesystemBlobStore) and str(store.path) == directory.format(tmp=tmp_path)
    run_sync(storage.close())


def test_the_default_blob_store_of_a_database(database_url):
    storage = sqlalchemy_storage_adapter(database_url)
    store = App(storage_adapter=storage).blobs
    if database_url.startswith("sqlite"):
        assert isinstance(store, FilesystemBlobStore)
        assert store.path == Path(sa.make_url(database_url).database + ".files")
    else:
        assert isinstance(store, SQLBlobStore) and store.db is storage
    assert not isinstance(App(storage_adapter=storage, blob_store=MemoryBlobStore()).blobs, SQLBlobStore)
    run_sync(storage.close())


def test_the_demo_leaves_the_database_and_its_files_directory(tmp_path, capsys, monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    assert "-> completed" in capsys.readouterr().out
    sidecars = {"supercompat-demo.db-wal", "supercompat-demo.db-shm", "supercompat-demo.db-journal"}
    assert set(os.listdir(tmp_path)) - sidecars <= {"supercompat-demo.db", "supercompat-demo.db.files"}
    # The bytes of files the demo's App would store go to the directory beside the database.
    client = supercompat(storage_adapter=sqlalchemy_storage_adapter("sqlite:///supercompat-demo.db"))
    app = app_of(client)
    run_sync(app.blobs.put("file-demo", chunks_of(b"a file's bytes")))
    assert os.listdir(tmp_path / "supercompat-demo.db.files") == ["file-demo"]
    assert set(os.listdir(tmp_path)) - sidecars == {"supercompat-demo.db", "supercompat-demo.db.files"}
    run_sync(app.storage.close())

