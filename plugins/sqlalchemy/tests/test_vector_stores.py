"""The Vector Stores API with its records in SQL (SQLite, PostgreSQL, MariaDB): the VectorStoresAPITests
kit through the real openai SDK, sync and async; and an ingestion whose process is killed mid-way,
finished by another process sharing the database."""

import asyncio
import json
import time

import pytest
from test_processes import worker

from supercompat import supercompat
from supercompat.loop import run_async, run_sync
from supercompat.testing import VectorStoresAPITests, app_of
from supercompat.testing.embedders import fake_embedder
from supercompat_sqlalchemy import sqlalchemy_storage_adapter
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
