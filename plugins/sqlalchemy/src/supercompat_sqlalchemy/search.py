"""The ``sql`` chunk index: vector stores' chunks in the storage adapter's database, searched there.

Tables (``schema.py``, migration 0007): ``supercompat_chunks`` (one row a chunk, its vector as float32
bytes, normalised) and ``supercompat_chunk_stores`` (a version per store). Search is hybrid, as
``supercompat.search`` describes, each half done where it is cheapest:

- Words, by the database's full-text search, OR of the query's keywords (a question's words rarely
  all appear in one chunk): SQLite's FTS5 ranked by ``bm25()``; PostgreSQL's ``tsvector`` (a generated
  column under a GIN index) ranked by ``ts_rank``; MariaDB/MySQL's InnoDB FULLTEXT index in natural
  language mode (it ignores words shorter than ``innodb_ft_min_token_size``, 3 by default, and its
  stopwords).
- Vectors, on PostgreSQL with pgvector (the migration added the ``embedding`` column): by an HNSW
  cosine index per vector length, made when that length is first added. Elsewhere exactly: the
  store's vectors are read once into a numpy matrix in this process and cached (the least recently
  searched let go past ``cache_bytes``), and each search costs one matrix product. Every change to a
  store bumps its version in the same transaction, and each search reads the versions of its stores
  (one small query) and reloads a store whose version moved, so a change made by any process is seen
  by the next search of every process. A store's version row lives while it has chunks: removing the
  store, or its last file, deletes it, and a store filled again starts from a random version, so a
  cached matrix is never taken for the new contents.

The two rankings are fused by reciprocal rank (:func:`supercompat.search.fuse`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from supercompat.errors import ConfigError
from supercompat.loop import finish
from supercompat.search import (
    KEYWORD_BUDGET,
    Hit,
    IndexedChunk,
    KeywordPlan,
    SearchQuery,
    best_rows,
    candidates,
    fuse_search,
    keyword_plan,
    keywords,
    similarities,
    unit_vector,
)

from .adapter import SQLAlchemyStorageAdapter
from .schema import chunk_stores, chunks

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

FTS = "supercompat_chunks_fts"
TS_CONFIG = "english"  # as migration 0007 made the tsvector column
WRITE_BATCH = 500  # rows a statement: well within every database's limit on bound parameters
IN_LIST = 500  # values bound one by one in an IN list; more go as one parameter (SQLChunkIndex._one_of)
OFF_LOOP_ROWS = 20_000  # a matrix product over more rows than this runs in a thread, off the event loop
# pgvector's HNSW indexes take vectors of at most this many numbers (text-embedding-3-large and Gemini's
# make 3,072): longer ones are stored all the same and searched by a scan, exactly.
HNSW_MAX_DIMENSIONS = 2000
HNSW_EF_SEARCH = 100  # pgvector's candidate list: its default, 40, finds fewer of the true nearest chunks
# The vectors a process keeps cached, all stores together: 100k chunks of 1,536 numbers take 600 MB.
CACHE_BYTES = 256 * 2**20
ROW_BYTES = 200  # what a cached chunk costs besides its vector: its row id and its key
ChunkKey = tuple[str, str, int]  # (store, file, seq)
_PLAIN = re.compile(r"[A-Za-z0-9_-]+")
Ranked = tuple[int, ChunkKey, float]  # a chunk's row id, its key, and its score in one ranking


@dataclass
class _Vectors:
    """One store's vectors of one length, as this process last read them."""

    version: int
    ids: list[int]
    keys: list[ChunkKey]
    matrix: np.ndarray  # one normalised float32 row per chunk

    @property
    def size(self) -> int:
        return int(self.matrix.nbytes) + ROW_BYTES * len(self.ids)


class SQLChunkIndex:
    """Chunks in a SQL database: the storage adapter's (``db``, or by ``wire(app)``)."""

    def __init__(self, db: SQLAlchemyStorageAdapter | None = None, *, cache_bytes: int = CACHE_BYTES) -> None:
        self._db = db
        # (store, vector length) -> its vectors, the most recently searched last; their sizes' sum.
        self._cache: OrderedDict[tuple[str, int], _Vectors] = OrderedDict()
        self._cached_bytes = 0
        self.cache_bytes = cache_bytes
        self._pgvector: bool | None = None  # known on first use
        self._hnsw_lengths: set[int] = set()  # the vector lengths with an HNSW index, as far as we know

    # -- wiring and life cycle ---------------------------------------------------------------------
    def wire(self, app: Any) -> None:
        """Without a database of its own, the index keeps its rows in the App's storage database."""
        if self._db is not None:
            return
        if not isinstance(app.storage, SQLAlchemyStorageAdapter):
            raise ConfigError(
                f"The sql chunk index keeps its rows in the storage adapter's database, and this App's "
                f"storage is not a SQL database ({type(app.storage).__name__}): use [storage] plugin = "
                f"\"sqlalchemy\", or another [index].")
        self._db = app.storage

    @property
    def db(self) -> SQLAlchemyStorageAdapter:
        if self._db is None:
            raise ConfigError("The sql chunk index has no database yet: pass it to an App whose storage "
                              "adapter is sqlalchemy (the App wires it).")
        return self._db

    @property
    def dialect(self) -> str:
        return self.db.engine.dialect.name

    async def close(self) -> None:
        self._cache.clear()
        self._cached_bytes = 0

    def _forget(self, key: tuple[str, int]) -> None:
        dropped = self._cache.pop(key, None)
        if dropped is not None:
            self._cached_bytes -= dropped.size

    def _keep(self, key: tuple[str, int], entry: _Vectors) -> None:
        """Cache ``entry``, letting the least recently searched go past ``cache_bytes`` (an entry larger
        than all of it is used by the search that read it, not kept)."""
        self._forget(key)
        if entry.size > self.cache_bytes:
            return
        while self._cache and self._cached_bytes + entry.size > self.cache_bytes:
            self._forget(next(iter(self._cache)))
        self._cache[key] = entry
        self._cached_bytes += entry.size

    # -- writes -----------------------------------------------------------------------------------
    async def add(self, store_id: str, file_id: str, chunks_: Sequence[IndexedChunk]) -> None:
        if not chunks_:
            return
        rows = [_row(store_id, file_id, chunk) for chunk in chunks_]
        pgvector = await self._uses_pgvector()
        if pgvector:
            for length in {row["dims"] for row in rows if row["dims"]} - self._hnsw_lengths:
                if length <= HNSW_MAX_DIMENSIONS:  # longer vectors are searched without an index
                    await finish(self._hnsw_index(length))
        await finish(self._add(store_id, file_id, rows, pgvector))

    async def _add(self, store_id: str, file_id: str, rows: list[dict[str, Any]], pgvector: bool) -> None:
        async with self.db._write() as conn:
            await self._bump(conn, store_id)  # first: it locks the store's row, so writers of a store queue
            seqs = sorted({row["seq"] for row in rows})
            for start in range(0, len(seqs), WRITE_BATCH):
                await conn.execute(sa.delete(chunks).where(
                    chunks.c.store_id == store_id, chunks.c.file_id == file_id,
                    chunks.c.seq.in_(seqs[start:start + WRITE_BATCH])))
            unique = list({row["seq"]: row for row in rows}.values())  # the last of a repeated seq wins
            insert = sa.insert(chunks)
            if pgvector:
                embedding = _as_pg_vector(sa.bindparam("embedding", type_=sa.Text))
                insert = sa.insert(_with_embedding).values(embedding=embedding)
                unique = [{**row, "embedding": _pg_vector(row["vector"])} for row in unique]
            elif self.dialect in ("mysql", "mariadb"):
                # Bytes as hex for UNHEX(), as the sql blob store sends them (aiomysql can't send bytes).
                insert = insert.values(vector=sa.func.unhex(sa.bindparam("vector_hex", type_=sa.Text)))
                unique = [{**row, "vector_hex": row["vector"] and row["vector"].hex()} for row in unique]
                for row in unique:
                    del row["vector"]
            for start in range(0, len(unique), WRITE_BATCH):
                await conn.execute(insert, unique[start:start + WRITE_BATCH])

    async def remove(self, store_id: str, file_id: str | None = None) -> None:
        await finish(self._remove(store_id, file_id))
        if file_id is None:  # this process's copy goes now (another process's, at its next search of it)
            for key in [key for key in self._cache if key[0] == store_id]:
                self._forget(key)

    async def _remove(self, store_id: str, file_id: str | None) -> None:
        async with self.db._write() as conn:
            # First, as adding does: it locks the store's row, so an add under way commits first and its
            # chunks are seen (and deleted) here.
            await self._bump(conn, store_id)
            where = [chunks.c.store_id == store_id]
            if file_id is not None:
                where.append(chunks.c.file_id == file_id)
            await conn.execute(sa.delete(chunks).where(*where))
            left = None
            if file_id is not None:
                left = (await conn.execute(sa.select(chunks.c.id).where(where[0]).limit(1))).first()
            if left is None:  # the store has no chunks left: nor a row (a deleted store leaves nothing)
                await conn.execute(sa.delete(chunk_stores).where(chunk_stores.c.store_id == store_id))

    async def _bump(self, conn: AsyncConnection, store_id: str) -> None:
        """The store's version, one more, in the caller's transaction. A store without a row starts at a
        random version: one removed and filled again never shows a version a process has cached."""
        bumped = chunk_stores.c.version + 1
        first = secrets.randbits(52)
        if self.dialect in ("mysql", "mariadb"):
            stmt: Any = mysql.insert(chunk_stores).values(store_id=store_id, version=first)
            stmt = stmt.on_duplicate_key_update(version=bumped)
        else:
            insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(chunk_stores)
            stmt = insert.values(store_id=store_id, version=first).on_conflict_do_update(
                index_elements=[chunk_stores.c.store_id], set_={"version": bumped})
        await conn.execute(stmt)

    # -- reads ------------------------------------------------------------------------------------
    async def texts(self, store_id: str, file_id: str) -> list[str]:
        stmt = (sa.select(chunks.c.text).where(chunks.c.store_id == store_id, chunks.c.file_id == file_id)
                .order_by(chunks.c.seq))
        async with self.db._read() as conn:
            return list((await conn.execute(stmt)).scalars())

    async def search(self, query: SearchQuery) -> list[Hit]:
        store_ids = list(dict.fromkeys(query.store_ids))
        if not store_ids or query.limit <= 0 or (query.file_ids is not None and not query.file_ids):
            return []
        vector = unit_vector(query.vector)
        pgvector = vector is not None and await self._uses_pgvector()
        return await finish(self._search(query, store_ids, vector, pgvector))

    async def _search(self, query: SearchQuery, store_ids: list[str], vector: np.ndarray | None,
                      pgvector: bool) -> list[Hit]:
        """On one connection (on PostgreSQL a transaction, for the settings made for it): the keyword
        ranking, the vector ranking, and the texts of what fusion keeps."""
        depth = candidates(query.limit)
        found: dict[int, ChunkKey] = {}
        rankings: list[list[int]] = []
        words = keywords(query.text)
        async with self.db._write() if self.dialect == "postgresql" else self.db._read() as conn:
            by_keyword = []
            if words:
                by_keyword = await self._keyword_ranking(conn, store_ids, words, query.file_ids, depth)
            found.update((row_id, key) for row_id, key, _ in by_keyword)
            rankings.append([row_id for row_id, _, _ in by_keyword])
            if vector is not None:
                if pgvector:
                    by_vector = await self._pgvector_ranking(conn, store_ids, vector, query.file_ids, depth)
                else:
                    by_vector = await self._exact_ranking(conn, store_ids, vector, query.file_ids, depth)
                found.update((row_id, key) for row_id, key, _ in by_vector)
                rankings.append([row_id for row_id, _, _ in by_vector])
            fused = fuse_search(rankings[0], rankings[1] if len(rankings) > 1 else None, limit=query.limit)
            if not fused:
                return []
            rows = await conn.execute(sa.select(chunks.c.id, chunks.c.text)
                                      .where(chunks.c.id.in_([row_id for row_id, _ in fused])))
            texts = {row[0]: row[1] for row in rows}
        # A chunk removed since it was ranked is left out.
        return [Hit(*found[row_id], texts[row_id], score) for row_id, score in fused if row_id in texts]

    def _restricted(self, store_ids: list[str], file_ids: frozenset[str] | None) -> list[Any]:
        where = [chunks.c.store_id.in_(store_ids)]
        if file_ids is not None:
            where.append(self._one_of(chunks.c.file_id, sorted(file_ids)))
        return where

    def _one_of(self, column: Any, values: list[str]) -> Any:
        """``column IN values``, however many: past IN_LIST values, a filter's files (a store's 40,000,
        say) go as one parameter where one bound value a file would pass the database's limit
        (PostgreSQL's driver takes 32,767; SQLite 32,766): an array on PostgreSQL, JSON read by
        ``json_each`` on SQLite. MySQL's driver writes the values into the statement itself."""
        if len(values) <= IN_LIST or self.dialect in ("mysql", "mariadb"):
            return column.in_(values)
        if self.dialect == "postgresql":
            return column == sa.any_(sa.bindparam("file_ids", values, type_=postgresql.ARRAY(sa.Text)))
        each = sa.func.json_each(sa.bindparam("file_ids", json.dumps(values), type_=sa.Text))
        return column.in_(sa.select(each.table_valued("value").c.value))

    async def _keyword_ranking(self, conn: AsyncConnection, store_ids: list[str], words: list[str],
                               file_ids: frozenset[str] | None, depth: int) -> list[Ranked]:
        """The chunks with the query's words, best first: (row id, key, score). Which words, and whether
        all are needed: :func:`supercompat.search.keyword_plan`, from how many chunks of the stores
        searched have each (counted up to the budget, in one statement). Another store's chunks don't
        count: a word common there would make a small store's search require every word, and find
        nothing. Stores of at most the budget's chunks in all are searched on every word, uncounted:
        scoring them all costs no more than the budget."""
        terms = list(dict.fromkeys(words))
        if await self._chunks_in(conn, store_ids) <= KEYWORD_BUDGET:
            plan = KeywordPlan(tuple(terms))
        else:
            counts = await self._chunks_with(conn, terms, store_ids)
            plan = keyword_plan(counts)
            if not any(counts[term] for term in plan.words):
                return []
        rows = (await conn.execute(self._keyword_statement(plan, store_ids, file_ids).limit(depth))).all()
        return [(row[0], (row[1], row[2], row[3]), float(row[4])) for row in rows]

    @staticmethod
    async def _chunks_in(conn: AsyncConnection, store_ids: list[str]) -> int:
        """How many chunks the stores have, counted up to KEYWORD_BUDGET + 1 (from the index on store)."""
        few = sa.select(chunks.c.id).where(chunks.c.store_id.in_(store_ids)).limit(KEYWORD_BUDGET + 1)
        return int((await conn.execute(sa.select(sa.func.count()).select_from(few.subquery()))).scalar_one())

    async def _chunks_with(self, conn: AsyncConnection, terms: list[str],
                           store_ids: list[str]) -> dict[str, int]:
        """How many chunks of ``store_ids`` have each term, counted up to KEYWORD_BUDGET + 1: one scalar
        subquery a term, each stopping at that many rows, in one statement. PostgreSQL estimates
        instead (below)."""
        if self.dialect == "postgresql":
            return await self._estimated_chunks_with(conn, terms, store_ids)
        counted = []
        in_stores = chunks.c.store_id.in_(store_ids)
        for i, term in enumerate(terms):
            if self.dialect == "sqlite":
                fts = sa.table(FTS, sa.column("rowid"))
                has = sa.literal_column(FTS).op("MATCH")(sa.bindparam(f"t{i}", f'"{term}"'))
                # The unary + keeps SQLite from reading the big store's chunks by its index on store, then
                # looking each up in FTS5 (64 ms a word over 100k chunks): it reads the word's postings.
                in_big_stores = sa.literal_column(f"+{chunks.name}.store_id").in_(store_ids)
                rows: Any = (sa.select(sa.literal_column("1"))
                             .select_from(fts.join(chunks, chunks.c.id == fts.c.rowid)).where(has, in_big_stores))
            else:
                rows = sa.select(sa.literal_column("1")).select_from(chunks).where(
                    mysql.match(chunks.c.text, against=term).in_boolean_mode(), in_stores)
            few = rows.limit(KEYWORD_BUDGET + 1).subquery()
            counted.append(sa.select(sa.func.count()).select_from(few).scalar_subquery().label(f"c{i}"))
        row = (await conn.execute(sa.select(*counted))).one()
        return dict(zip(terms, row, strict=True))

    @staticmethod
    async def _estimated_chunks_with(conn: AsyncConnection, terms: list[str],
                                     store_ids: list[str]) -> dict[str, int]:
        """PostgreSQL's planner's estimate of how many chunks of ``store_ids`` have each term, from the
        statistics ANALYZE keeps of the tsvector column's commonest words and of the stores' ids:
        counting, even up to a limit, costs a read of every matching row's tsvector (the planner takes
        a common word's rows from a sequential scan), 50-350 ms a common word over 100k chunks, where
        planning costs a fraction of a millisecond. Before the first ANALYZE every word looks rare,
        which only costs time."""
        # Terms are \w+ words, and the ids core makes [A-Za-z0-9_-]: nothing in them to quote (an id of
        # another form, which no store has, leaves the estimate over every store).
        plain = [store_id for store_id in store_ids if _PLAIN.fullmatch(store_id)]
        in_stores = f" AND store_id IN ({', '.join(repr(s) for s in plain)})" if plain == store_ids else ""
        selects = " UNION ALL ".join(
            f"SELECT {i} FROM supercompat_chunks WHERE words @@ to_tsquery('{TS_CONFIG}', '{term}')"
            f"{in_stores}"
            for i, term in enumerate(terms))
        # One scan a term under one Append: a parallel plan would estimate rows per worker.
        await conn.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
        plan = (await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON, VERBOSE) {selects}")).scalar()
        top = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
        # Each term's scan, known by what it selects (the planner leaves out a scan it knows is empty).
        scans = top["Plans"] if top["Node Type"] == "Append" else [top]
        rows = {int(scan["Output"][0].strip("()")): int(scan["Plan Rows"]) for scan in scans}
        return {term: rows.get(i, 0) for i, term in enumerate(terms)}

    def _keyword_statement(self, plan: KeywordPlan, store_ids: list[str],
                           file_ids: frozenset[str] | None) -> Any:
        columns = [chunks.c.id, chunks.c.store_id, chunks.c.file_id, chunks.c.seq]
        where = self._restricted(store_ids, file_ids)
        if self.dialect == "sqlite":
            fts = sa.table(FTS, sa.column("rowid"))
            match = (" AND " if plan.every else " OR ").join(f'"{term}"' for term in plan.words)
            score = sa.func.bm25(sa.literal_column(FTS))  # lower is better
            return (sa.select(*columns, score).select_from(fts.join(chunks, chunks.c.id == fts.c.rowid))
                    .where(sa.literal_column(FTS).op("MATCH")(match), *where).order_by(score))
        if self.dialect == "postgresql":
            tsquery = _tsquery((" & " if plan.every else " | ").join(plan.words))
            score = sa.func.ts_rank(_words(), tsquery)
            return sa.select(*columns, score).where(_words().op("@@")(tsquery), *where).order_by(score.desc())
        if plan.every:  # MySQL ranks by natural language mode; boolean mode's + requires a word
            every_word = " ".join(f"+{word}" for word in plan.words)
            required = mysql.match(chunks.c.text, against=every_word).in_boolean_mode()
            where.append(required)
        score = mysql.match(chunks.c.text, against=" ".join(plan.words)).in_natural_language_mode()
        return sa.select(*columns, score).where(score, *where).order_by(score.desc())

    # -- vectors, exactly -------------------------------------------------------------------------------
    async def _exact_ranking(self, conn: AsyncConnection, store_ids: list[str], vector: np.ndarray,
                             file_ids: frozenset[str] | None, depth: int) -> list[Ranked]:
        stores = await self._current(conn, store_ids, len(vector))
        scored: list[Ranked] = []
        for entry in stores:
            if not entry.ids:
                continue
            if len(entry.ids) > OFF_LOOP_ROWS:
                scores = await asyncio.to_thread(similarities, entry.matrix, vector)
            else:
                scores = similarities(entry.matrix, vector)
            files = [key[1] for key in entry.keys] if file_ids is not None else None
            scored += [(entry.ids[i], entry.keys[i], float(scores[i]))
                       for i in best_rows(scores, depth, files, file_ids)]
        return sorted(scored, key=lambda item: -item[2])[:depth]

    async def _current(self, conn: AsyncConnection, store_ids: list[str], length: int) -> list[_Vectors]:
        """The stores' vectors of ``length`` numbers, from the cache where the store's version has not
        moved, else read again. The version is read before the rows: a change committed in between
        leaves rows newer than their version, read again at the next search, never older."""
        versions = dict((await conn.execute(sa.select(chunk_stores.c.store_id, chunk_stores.c.version)
                                            .where(chunk_stores.c.store_id.in_(store_ids)))).all())
        current = []
        for store_id in store_ids:
            version = versions.get(store_id)
            if version is None:  # no chunks: removed, perhaps by another process, whose copy goes here too
                for key in [key for key in self._cache if key[0] == store_id]:
                    self._forget(key)
                continue
            cached = self._cache.get((store_id, length))
            if cached is None or cached.version != version:
                cached = await self._load(conn, store_id, length, version)
                self._keep((store_id, length), cached)
            else:
                self._cache.move_to_end((store_id, length))
            current.append(cached)
        return current

    @staticmethod
    async def _load(conn: AsyncConnection, store_id: str, length: int, version: int) -> _Vectors:
        import numpy as np

        stmt = (sa.select(chunks.c.id, chunks.c.file_id, chunks.c.seq, chunks.c.vector)
                .where(chunks.c.store_id == store_id, chunks.c.dims == length))
        ids: list[int] = []
        keys: list[ChunkKey] = []
        data: list[bytes] = []
        for row in await conn.execute(stmt):
            ids.append(row[0])
            keys.append((store_id, row[1], row[2]))
            data.append(bytes(row[3]))
        matrix = np.frombuffer(b"".join(data), dtype=np.float32).reshape(len(ids), length)
        return _Vectors(version, ids, keys, matrix)

    # -- vectors, by pgvector ----------------------------------------------------------------------------
    async def _uses_pgvector(self) -> bool:
        if self._pgvector is None:
            self._pgvector = self.dialect == "postgresql" and await finish(self._has_embedding_column())
        return self._pgvector

    async def _has_embedding_column(self) -> bool:
        async with self.db._read() as conn:
            found = await conn.execute(sa.text(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = 'supercompat_chunks' AND column_name = 'embedding'"))
            return found.first() is not None

    async def _hnsw_index(self, length: int) -> None:
        """pgvector's HNSW index over the vectors of ``length`` numbers (an index needs one length)."""
        async with self.db._write() as conn:
            await conn.execute(sa.text(
                f"CREATE INDEX IF NOT EXISTS ix_supercompat_chunks_hnsw_{length} ON supercompat_chunks "
                f"USING hnsw ((embedding::vector({length})) vector_cosine_ops) WHERE dims = {length}"))
        self._hnsw_lengths.add(length)

    async def _pgvector_ranking(self, conn: AsyncConnection, store_ids: list[str], vector: np.ndarray,
                                file_ids: frozenset[str] | None, depth: int) -> list[Ranked]:
        length = len(vector)
        query = sa.bindparam("query", _pg_vector(vector.tobytes()), type_=sa.Text)
        distance = _as_pg_vector(sa.literal_column("embedding"), length).op("<=>", return_type=sa.Float)(
            _as_pg_vector(query, length))
        stmt = (sa.select(chunks.c.id, chunks.c.store_id, chunks.c.file_id, chunks.c.seq, distance)
                .where(chunks.c.dims == length, *self._restricted(store_ids, file_ids))
                .order_by(distance).limit(depth))
        # In the caller's transaction. relaxed_order: with a store restriction, the index scan goes on
        # until it has enough rows.
        await conn.execute(sa.text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        await conn.execute(sa.text(f"SET LOCAL hnsw.ef_search = {max(HNSW_EF_SEARCH, depth)}"))
        rows = (await conn.execute(stmt)).all()
        ranked = [(row[0], (row[1], row[2], row[3]), 1.0 - float(row[4])) for row in rows]
        return sorted(ranked, key=lambda item: -item[2])


def _words() -> Any:
    """PostgreSQL's tsvector column, which only migration 0007 declares."""
    return sa.literal_column("supercompat_chunks.words")


def _tsquery(text: str) -> Any:
    return sa.func.to_tsquery(sa.literal_column(f"'{TS_CONFIG}'::regconfig"), sa.cast(text, sa.Text))


def _row(store_id: str, file_id: str, chunk: IndexedChunk) -> dict[str, Any]:
    vector = unit_vector(chunk.vector)
    return {"store_id": store_id, "file_id": file_id, "seq": chunk.seq, "text": chunk.text,
            "tokens": chunk.tokens, "dims": None if vector is None else len(vector),
            "vector": None if vector is None else vector.tobytes()}


# The chunks' table as the migration made it where pgvector is: with its ``embedding`` column.
_with_embedding = sa.table(chunks.name, *(sa.column(c.name, c.type) for c in chunks.c),
                           sa.column("embedding"))


class _PgVector(sa.types.UserDefinedType[Any]):
    """pgvector's type, for casts (its values travel as text: no driver needs to know the type)."""

    cache_ok = True

    def __init__(self, length: int | None = None) -> None:
        self.length = length

    def get_col_spec(self, **kw: Any) -> str:
        return "vector" if self.length is None else f"vector({self.length})"


def _as_pg_vector(value: Any, length: int | None = None) -> Any:
    """``value`` (a column, or text in pgvector's form) as a pgvector of ``length`` numbers: the
    expression the HNSW index for that length is made on."""
    if isinstance(value, sa.BindParameter):
        value = sa.cast(value, sa.Text)  # typed text for the driver, then cast by the database
    return sa.cast(value, _PgVector(length))


def _pg_vector(data: bytes | None) -> str | None:
    """pgvector's text form of float32 bytes."""
    if data is None:
        return None
    import numpy as np

    return "[" + ",".join(map(repr, np.frombuffer(data, dtype=np.float32).tolist())) + "]"


class SQLIndexOptions(BaseModel):
    """The ``[index]`` section for ``plugin = "sql"``."""

    model_config = ConfigDict(extra="forbid")

    cache_bytes: int = Field(CACHE_BYTES, ge=0)


def sql_chunk_index(db: SQLAlchemyStorageAdapter | None = None, *,
                    cache_bytes: int = CACHE_BYTES) -> SQLChunkIndex:
    """Chunks in the database of ``db``; without it, of the App's storage adapter (the App wires it).
    ``cache_bytes``: at most this many bytes of vectors cached in the process (where there is no
    pgvector), the least recently searched stores' let go first."""
    return SQLChunkIndex(db, cache_bytes=cache_bytes)


__all__ = ["CACHE_BYTES", "SQLChunkIndex", "SQLIndexOptions", "sql_chunk_index"]
