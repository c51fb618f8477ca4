"""The Vector Stores API with its records in SQL (SQLite, PostgreSQL, MariaDB): the VectorStoresAPITests
kit through the real openai SDK, sync and async; and an ingestion whose process is killed mid-way,
finished by another process sharing the database."""

import asyncio
import json
import time

import pytest
import sqlalchemy as sa
from test_processes import worker

from supercompat import supercompat
from supercompat.loop import run_async, run_sync
from supercompat.testing import VectorStoresAPITests, app_of
from supercompat.testing.embedders import fake_embedder
from supercompat.testing.storage import make_vector_store_file
from supercompat.testing.vector_stores import MARMOT, app_client, upload
from supercompat_sqlalchemy import sqlalchemy_storage_adapter
from supercompat_sqlalchemy.schema import VECTOR_STORE_FILE, vector_store_files
from supercompat_sqlalchemy.testing import empty


class TestVectorStoresOnSQL(VectorStoresAPITests):
    @pytest.fixture
    async def storage_adapter(self, database_url):
        await empty(database_url)
        adapter = sqlalchemy_storage_adapter(database_url)
        yield adapter
        await run_async(adapter.close())  # its connections live on supercompat's loop


async def _watch(app):
    app.engine.watch()


async def test_an_ingestion_of_a_killed_process_is_finished_by_another(database_url, storage):
    process = worker("ingest", database_url)
    try:
        made = json.loads(process.stdout.readline())  # the file is being embedded
    finally:
        process.kill()  # SIGKILL mid-ingestion: its job's lease is no longer renewed
        process.communicate()
    assert (await storage.get_vector_store_file(made["store"], made["file"]))["status"] == "in_progress"
    survivor = supercompat(storage_adapter=sqlalchemy_storage_adapter(database_url), embedder=fake_embedder(),
                           max_retries=0)
    app = app_of(survivor)
    app.engine.orphan_after, app.engine.sweep_interval, app.engine.heartbeat_interval = 1.0, 0.2, 0.2
    await run_async(_watch(app))  # as the App's first request does
    deadline = time.monotonic() + 60
    files = survivor.vector_stores.files
    while (file := files.retrieve(made["file"], vector_store_id=made["store"])).status == "in_progress":
        assert time.monotonic() < deadline, "nobody took over the killed process's ingestion"
        await asyncio.sleep(0.1)
    assert file.status == "completed" and file.last_error is None and file.usage_bytes > 0
    job = await storage.get_job((await storage.get_vector_store_file(made["store"], made["file"]))["job_id"])
    assert job["attempt"] == 2 and job["status"] == "completed"
    [hit] = survivor.vector_stores.search(made["store"], query="marmot ledgers").data
    assert hit.file_id == made["file"] and hit.filename == "marmot.txt"
    assert survivor.vector_stores.retrieve(made["store"]).status == "completed"
    run_sync(app.aclose(grace=0))


async def test_a_filtered_search_of_a_store_of_40000_files(storage, database_url):
    """A regression: a filter's files went to the index as one bound value each, and asyncpg takes at
    most 32,767 (the search answered 500 on PostgreSQL). The files are inserted as rows, not ingested
    (by ``storage``, on this test's loop; the App has an adapter of its own, on supercompat's)."""
    app_storage = sqlalchemy_storage_adapter(database_url)
    app = app_of(supercompat(storage_adapter=app_storage, embedder=fake_embedder(), max_retries=0))
    client = app_client(app, "async")
    store = await client.vector_stores.create(name="big")
    file = await upload(client, "marmot.txt", MARMOT)
    await client.vector_stores.files.create_and_poll(file_id=file.id, vector_store_id=store.id,
                                                     attributes={"team": "a"})
    rows = [{**VECTOR_STORE_FILE.row(make_vector_store_file(store.id, f"file-{i:06}", status="completed",
                                                            attributes={"team": "a"})),
             "vector_store_id": store.id} for i in range(40_000)]
    async with storage._write() as conn:
        for start in range(0, len(rows), 5000):
            await conn.execute(sa.insert(vector_store_files), rows[start:start + 5000])
    found = await client.vector_stores.search(store.id, query="marmot ledgers",
                                              filters={"type": "eq", "key": "team", "value": "a"})
    assert [r.file_id for r in found.data] == [file.id]
    await client.close()
    await run_async(app.aclose(grace=0))
    await run_async(app_storage.close())
