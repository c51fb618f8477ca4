"""Another OS process putting blobs in the same database, for test_blob_stores.py:

    python blob_worker.py race URL KEY SALT N   puts N blobs of one pattern under KEY, after a line on stdin
    python blob_worker.py hang URL KEY          starts a put, says "written" once 2 MiB are in, and hangs
"""

import asyncio
import sys

from supercompat.blobs import CHUNK_BYTES
from supercompat.testing.blobs import chunks_of, pattern
from supercompat_sqlalchemy import sql_blob_store


async def race(url, key, salt, n):
    store = sql_blob_store(url)
    await store.size(key)  # connected before the start line
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    for i in range(n):
        await store.put(key, chunks_of(pattern(CHUNK_BYTES + 1000 * salt + i, salt=salt), 200_000))
    await store.close()
    print("done", flush=True)


async def hang(url, key):
    store = sql_blob_store(url)

    async def source():
        yield pattern(2 * CHUNK_BYTES + 7)
        print("written", flush=True)
        await asyncio.Event().wait()
        yield b""

    await store.put(key, source())


if __name__ == "__main__":
    mode, url, key, *rest = sys.argv[1:]
    if mode == "race":
        asyncio.run(race(url, key, int(rest[0]), int(rest[1])))
    else:
        asyncio.run(hang(url, key))
