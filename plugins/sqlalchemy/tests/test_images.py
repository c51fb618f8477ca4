"""A run reads a message's image file only while the file is one the run may read, with the files'
metadata in SQL (SQLite, PostgreSQL, MariaDB): the thread's project and the file's ``expires_at``
come back from the database as the check needs them."""

import time

import pytest

from supercompat import loop, supercompat
from supercompat.blobs import MemoryBlobStore
from supercompat.images import data_url
from supercompat.testing import app_of, scripted_client_adapter
from supercompat.testing.images import PNG, put_file
from supercompat_sqlalchemy import sqlalchemy_storage_adapter
from supercompat_sqlalchemy.testing import empty


@pytest.fixture
def client(database_url):
    loop.run_sync(empty(database_url))
    storage = sqlalchemy_storage_adapter(database_url)
    client = supercompat(client_adapter=scripted_client_adapter(), storage_adapter=storage,
                         blob_store=MemoryBlobStore(), max_retries=0)
    yield client
    client.close()
    loop.run_sync(app_of(client).aclose())


def restored(client, file_id, **changes):
    """File ``file_id`` stored again with ``changes`` (its bytes stay)."""
    storage = app_of(client).storage
    file = loop.run_sync(storage.get_file(file_id))
    loop.run_sync(storage.delete_file(file_id))
    loop.run_sync(storage.create_file({**file, **changes}))


@pytest.mark.parametrize(("changes", "readable"), [
    ({}, True), ({"expires_at": int(time.time()) + 3600}, True),
    ({"expires_at": int(time.time()) - 1}, False), ({"project": "proj_other"}, False)])
def test_a_run_reads_an_image_file_only_while_it_may(client, changes, readable):
    file_id = put_file(client, PNG)
    assistant = client.beta.assistants.create(model="test-model")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": [
        {"type": "image_file", "image_file": {"file_id": file_id}}]}])
    restored(client, file_id, **changes)  # after the message was written: the run checks again
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    requests = app_of(client).client.requests
    if readable:
        assert run.status == "completed", run.last_error
        assert requests[-1]["messages"][0]["content"][0]["image_url"]["url"] == data_url("image/png", PNG)
    else:
        assert run.status == "failed" and run.last_error.code == "invalid_prompt"
        assert file_id in run.last_error.message and "does not exist" in run.last_error.message
        assert requests == []
