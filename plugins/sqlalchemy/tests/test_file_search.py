"""The FileSearchTests kit on SQLite, PostgreSQL and MariaDB: file_search over the SQL storage and its
chunk index, the scripted model behind it (one openai client kind: core's tests run both); and the
App's closing with a search still going."""

import pytest

from supercompat import App
from supercompat.file_search import file_search_tool
from supercompat.loop import run_async, run_sync
from supercompat.testing import FileSearchTests, Reply, ScriptedClientAdapter
from supercompat.testing.embedders import fake_embedder
from supercompat.testing.file_search import CountedSearches, HeldEmbeddings
from supercompat.testing.serving import in_process_client
from supercompat.testing.vector_stores import MARMOT, app_client
from supercompat_sqlalchemy import sqlalchemy_storage_adapter
from supercompat_sqlalchemy.testing import empty


class TestFileSearchOnSQL(FileSearchTests):
    client = in_process_client()

    @pytest.fixture
    async def storage_adapter(self, database_url):
        await empty(database_url)
        adapter = sqlalchemy_storage_adapter(database_url)
        yield adapter
        await run_async(adapter.close())  # its connections live on supercompat's loop


class ReleasedOnClose(ScriptedClientAdapter):
    """The scripted model, whose closing (early in App.aclose, before the index and the storage close)
    lets the held searches go on."""

    embedder: HeldEmbeddings

    async def aclose(self) -> None:
        self.embedder.release()


def test_closing_the_app_waits_for_a_search_a_cancel_left_running(database_url):
    """As in core: the App's closing waits for a search a cancel left running before it closes the
    index and the storage (it closed them at once, and a connection the search held was dropped)."""
    run_sync(empty(database_url))
    storage = sqlalchemy_storage_adapter(database_url)
    model = ReleasedOnClose([Reply(tool_calls=[("file_search", {"queries": ["marmot"]})])])
    model.embedder = HeldEmbeddings(fake_embedder())
    index = CountedSearches(storage.default_chunk_index())
    app = App(client_adapter=model, storage_adapter=storage, embedder=model.embedder, chunk_index=index,
              tools=[file_search_tool()])
    client = app_client(app, "sync")
    file = client.files.create(file=("marmot.txt", MARMOT.encode()), purpose="assistants")
    store = client.vector_stores.create(file_ids=[file.id])
    client.vector_stores.files.poll(file.id, vector_store_id=store.id)
    a = client.beta.assistants.create(model="m", tools=[{"type": "file_search"}],
                                      tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    t = client.beta.threads.create(messages=[{"role": "user", "content": "Who audits?"}])
    model.embedder.hold("query")
    run = client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id)
    assert model.embedder.held.wait(30)
    client.beta.threads.runs.cancel(run.id, thread_id=t.id)
    assert client.beta.threads.runs.poll(run.id, thread_id=t.id).status == "cancelled"
    assert index.ended == 0  # the search still waits
    run_sync(app.aclose(grace=0))  # closes the storage too
    assert index.ended_at_close == 1
