"""file_search through the openai SDK: the FileSearchTests kit on memory with the scripted model; and
the App's closing with a search still going."""

from __future__ import annotations

import pytest

from supercompat import App
from supercompat.file_search import file_search_tool
from supercompat.loop import run_sync
from supercompat.search_memory import memory_chunk_index
from supercompat.testing import FileSearchTests, Reply, ScriptedClientAdapter
from supercompat.testing.embedders import fake_embedder
from supercompat.testing.file_search import CountedSearches, HeldEmbeddings
from supercompat.testing.vector_stores import MARMOT, app_client

from conftest import storage_closed_by_the_app

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it


class TestMemory(FileSearchTests):
    @pytest.fixture
    def storage_adapter(self):
        yield from storage_closed_by_the_app()


class ReleasedOnClose(ScriptedClientAdapter):
    """The scripted model, whose closing (early in App.aclose, before the index and the storage close)
    lets the held searches go on."""

    embedder: HeldEmbeddings

    async def aclose(self) -> None:
        self.embedder.release()


def test_closing_the_app_waits_for_a_search_a_cancel_left_running():
    """A cancel stops a run waiting for its search, whose reads go on: the App's closing waits for them
    before it closes the index and the storage under them (a regression: it closed them at once, and
    on SQL a connection a search still held was dropped unclosed)."""
    model = ReleasedOnClose([Reply(tool_calls=[("file_search", {"queries": ["marmot"]})])])
    index = CountedSearches(memory_chunk_index())
    model.embedder = HeldEmbeddings(fake_embedder())
    app = App(client_adapter=model, embedder=model.embedder, chunk_index=index, tools=[file_search_tool()])
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
    run_sync(app.aclose(grace=0))
    assert index.ended_at_close == 1
