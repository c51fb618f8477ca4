"""The Vector Stores API over HTTP from an old openai SDK: 1.66 and later have ``client.vector_stores``
(with search, file attributes and content), up to 1.65 ``client.beta.vector_stores`` (without). The
HTTP paths are the same; both generations must work, helpers included."""

from __future__ import annotations

import openai
import pytest

from conftest import KEY

VERSION = tuple(int(part) for part in openai.__version__.split(".")[:2])
NEW_PATHS = VERSION >= (1, 66)  # client.vector_stores, search, attributes, content
MARMOT = b"The quick marmot audits seventeen ledgers at dawn."


@pytest.fixture(scope="module")
def client(server_url):
    with openai.OpenAI(base_url=server_url, api_key=KEY, max_retries=0, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def vector_stores(client):
    return client.vector_stores if NEW_PATHS else client.beta.vector_stores


def test_the_sdk_is_the_generation_this_env_installs(client):
    assert VERSION < (3, 0)
    assert hasattr(client, "vector_stores") is NEW_PATHS
    assert hasattr(client.beta, "vector_stores") is not NEW_PATHS


def test_stores_are_created_retrieved_updated_listed_and_deleted(vector_stores):
    store = vector_stores.create(name="old", metadata={"sdk": openai.__version__},
                                 expires_after={"anchor": "last_active_at", "days": 2})
    assert store.object == "vector_store" and store.status == "completed" and store.file_counts.total == 0
    assert store.expires_at == store.last_active_at + 2 * 86400
    assert vector_stores.retrieve(store.id).id == store.id
    assert vector_stores.update(store.id, name="renamed").name == "renamed"
    assert store.id in [s.id for s in vector_stores.list(limit=100)]
    assert vector_stores.delete(store.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        vector_stores.retrieve(store.id)


def test_files_and_their_helpers(client, vector_stores):
    store = vector_stores.create(name="files")
    file = client.files.create(file=("marmot.txt", MARMOT), purpose="assistants")
    attached = vector_stores.files.create_and_poll(file_id=file.id, vector_store_id=store.id)
    assert attached.status == "completed" and attached.usage_bytes > 0 and attached.last_error is None
    assert attached.chunking_strategy.static.max_chunk_size_tokens == 800
    uploaded = vector_stores.files.upload_and_poll(vector_store_id=store.id, file=("cats.md", b"# Cats purr"))
    assert uploaded.status == "completed"
    listed = vector_stores.files.list(store.id, filter="completed", order="asc")
    assert [f.id for f in listed.data] == [file.id, uploaded.id]
    assert vector_stores.files.retrieve(file.id, vector_store_id=store.id).id == file.id
    assert vector_stores.files.delete(file.id, vector_store_id=store.id).deleted is True
    store = vector_stores.retrieve(store.id)
    assert store.file_counts.completed == 1 and store.status == "completed"


def test_file_batches_and_their_helpers(client, vector_stores):
    store = vector_stores.create(name="batches")
    files = [client.files.create(file=(f"f{i}.txt", MARMOT + bytes([48 + i])), purpose="assistants")
             for i in range(3)]
    batch = vector_stores.file_batches.create_and_poll(vector_store_id=store.id,
                                                       file_ids=[f.id for f in files])
    assert batch.object == "vector_store.files_batch" and batch.status == "completed"
    assert batch.file_counts.completed == 3
    assert vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id).id == batch.id
    listed = vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)
    assert sorted(f.id for f in listed.data) == sorted(f.id for f in files)
    ended = vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert ended.status == "completed"  # nothing was left to cancel
    uploaded = vector_stores.file_batches.upload_and_poll(store.id, files=[("u.txt", b"otters hold hands")])
    assert uploaded.status == "completed" and uploaded.file_counts.completed == 1


@pytest.mark.skipif(not NEW_PATHS, reason="search, attributes and content came with openai 1.66")
def test_search_attributes_and_content(client, vector_stores):
    store = vector_stores.create(name="search")
    file = client.files.create(file=("marmot.txt", MARMOT), purpose="assistants")
    vector_stores.files.create(file_id=file.id, vector_store_id=store.id, attributes={"kind": "note"})
    vector_stores.files.poll(file.id, vector_store_id=store.id)
    [hit] = vector_stores.search(store.id, query="marmot ledgers",
                                 filters={"type": "eq", "key": "kind", "value": "note"}).data
    assert (hit.file_id, hit.filename, hit.attributes) == (file.id, "marmot.txt", {"kind": "note"})
    assert hit.content[0].text == MARMOT.decode()
    assert vector_stores.search(store.id, query="marmot",
                                filters={"type": "eq", "key": "kind", "value": "memo"}).data == []
    updated = vector_stores.files.update(file.id, vector_store_id=store.id, attributes={"kind": "memo"})
    assert updated.attributes == {"kind": "memo"}
    content = vector_stores.files.content(file.id, vector_store_id=store.id)
    assert [p.text for p in content] == [MARMOT.decode()]
