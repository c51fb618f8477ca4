"""Blob store throughput: one put and one whole read of a SIZE MiB blob per store, in MiB/s, beside a
plain file written (and fsynced) and read back in 1 MiB chunks, and a ``shutil.copyfile``, on the same
disk. The put's source is one random MiB yielded SIZE times, so what is timed is the store.

    python bench/blobs.py [--mib 100] [--rounds 3] [--stores memory,...] [--write docs/performance.md]

Stores: memory, filesystem (fsync on and off), sql on SQLite, PostgreSQL and MariaDB (the servers of
the tests, ``SUPERCOMPAT_TEST_POSTGRESQL_URL`` / ``SUPERCOMPAT_TEST_MYSQL_URL``; each in a scratch
database, dropped afterwards). Needs supercompat-sqlalchemy[postgresql,mysql] for the sql rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from report import write_section  # noqa: E402

MIB = 2**20
STORES = ("memory", "filesystem", "filesystem (no fsync)", "sql (SQLite)", "sql (PostgreSQL)", "sql (MariaDB)")


def store_factory(name: str, tmp: str) -> AbstractContextManager[Callable[[], Any]]:
    """A context giving a function that makes the store (on an empty database or directory)."""
    if name == "memory":
        from supercompat.blobs import memory_blob_store

        return nullcontext(memory_blob_store)
    if name.startswith("filesystem"):
        from supercompat.blobs_filesystem import filesystem_blob_store

        fsync = "no fsync" not in name
        return nullcontext(lambda: filesystem_blob_store(os.path.join(tmp, "blobs"), fsync=fsync))
    backend = {"sql (SQLite)": "sqlite", "sql (PostgreSQL)": "postgresql", "sql (MariaDB)": "mysql"}[name]
    return _sql(backend)


@contextmanager
def _sql(backend: str) -> Any:
    from supercompat_sqlalchemy import sql_blob_store
    from supercompat_sqlalchemy.testing import scratch_database

    with scratch_database(backend) as url:
        yield lambda: sql_blob_store(url)


async def source(block: bytes, mib: int) -> AsyncIterator[bytes]:
    for _ in range(mib):
        yield block


async def measure_store(make: Callable[[], Any], block: bytes, mib: int, rounds: int) -> dict[str, float]:
    store = make()
    try:
        await store.put("file-warm", source(block, 1))  # connections, schema, directory
        puts, reads = [], []
        for i in range(rounds):
            key = f"file-bench{i}"
            started = time.perf_counter()
            size = await store.put(key, source(block, mib))
            puts.append(time.perf_counter() - started)
            assert size == mib * MIB
            started = time.perf_counter()
            got = 0
            async for chunk in store.read(key):
                got += len(chunk)
            reads.append(time.perf_counter() - started)
            assert got == size
            await store.delete(key)
        sweep = getattr(store, "sweep", None)
        if sweep is not None and asyncio.iscoroutinefunction(sweep):
            await sweep(now=time.time() + 10**6)  # the replaced blobs, so the database ends small
    finally:
        await store.close()
    return {"put": mib / statistics.median(puts), "read": mib / statistics.median(reads)}


def measure_plain(block: bytes, mib: int, rounds: int, tmp: str) -> dict[str, dict[str, float]]:
    writes, reads, copies = [], [], []
    path, copy = os.path.join(tmp, "plain.bin"), os.path.join(tmp, "copy.bin")
    for _ in range(rounds):
        started = time.perf_counter()
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
        writes.append(time.perf_counter() - started)
        started = time.perf_counter()
        with open(path, "rb", buffering=0) as f:
            while f.read(MIB):
                pass
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        shutil.copyfile(path, copy)
        copies.append(time.perf_counter() - started)
        os.unlink(copy)
    os.unlink(path)
    return {"plain file, write + fsync / read": {"put": mib / statistics.median(writes),
                                                 "read": mib / statistics.median(reads)},
            "plain file, shutil.copyfile": {"put": mib / statistics.median(copies)}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated, from: " + ", ".join(STORES))
    parser.add_argument("--write", metavar="PAGE", help="write the results into this page (performance.md)")
    args = parser.parse_args()
    block = os.urandom(MIB)
    results: dict[str, dict[str, float]] = {}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="supercompat-bench-") as tmp:
        results.update(measure_plain(block, args.mib, args.rounds, tmp))
        for name in (s.strip() for s in args.stores.split(",") if s.strip()):
            try:
                with store_factory(name, tmp) as make:
                    results[name] = asyncio.run(measure_store(make, block, args.mib, args.rounds))
            except Exception as exc:  # a server that isn't there: say so, measure the rest
                print(f"{name}: skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
            shutil.rmtree(os.path.join(tmp, "blobs"), ignore_errors=True)
    load.append(os.getloadavg()[0])
    rows = [f"| {name} | {r['put']:.0f} | " + (f"{r['read']:.0f} |" if "read" in r else "|")
            for name, r in results.items()]
    text = (f"`python bench/blobs.py --mib {args.mib}`: one put and one whole read of a {args.mib} MiB "
            f"blob per store (median of {args.rounds}), in MiB/s, beside a plain file on the same disk. "
            f"Python {platform.python_version()}, {os.cpu_count()} cores, 1-minute load average "
            f"{min(load):.1f}–{max(load):.1f}.\n\n"
            "| store | put, MiB/s | read, MiB/s |\n|---|---:|---:|\n" + "\n".join(rows) + "\n")
    print(text)
    if args.write:
        write_section(args.write, "blobs", text)


if __name__ == "__main__":
    main()
