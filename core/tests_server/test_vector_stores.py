"""The Vector Stores API over HTTP (the VectorStoresAPITests kit through a real server, sync and async
clients), held polls over loopback, and project isolation: one API key's stores are invisible to
another project's key in every route, and a store can't take another project's file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from supercompat import App
from supercompat.testing import VectorStoresAPITests
from supercompat.testing.embedders import fake_embedder

from conftest import serving

ALPHA, BETA = "sk-vs-alpha-0123456789", "sk-vs-beta-0123456789"


class TestVectorStoresOverHTTP(VectorStoresAPITests):
    @pytest.fixture(params=["sync-client", "async-client"])
    async def vs_client(self, request: pytest.FixtureRequest, vs_app: App, http_server: Any
                        ) -> AsyncIterator[Any]:
        http_server.asgi.app = vs_app
        client = http_server.client(request.param)
        yield client
        if isinstance(client, openai.AsyncOpenAI):
            await client.close()

    def test_the_server_answered(self, http_server: Any, vs_client: Any) -> None:
        assert str(vs_client.base_url) == http_server.base_url + "/"


@pytest.fixture(scope="module")
def two_projects():
    with serving(App(embedder=fake_embedder()), api_keys=[ALPHA, BETA]) as server:
        yield server.client(api_key=ALPHA), server.client(api_key=BETA)


def test_another_projects_stores_are_invisible_in_every_route(two_projects):
    alpha, beta = two_projects
    file = alpha.files.create(file=("a.txt", b"alpha's secret marmot"), purpose="assistants")
    store = alpha.vector_stores.create(name="alpha", file_ids=[file.id])
    alpha.vector_stores.files.poll(file.id, vector_store_id=store.id)
    batch = alpha.vector_stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=[file.id])
    mine = beta.files.create(file=("b.txt", b"beta"), purpose="assistants")
    vsc = beta.vector_stores
    for route in (lambda: vsc.retrieve(store.id), lambda: vsc.update(store.id, name="x"),
                  lambda: vsc.search(store.id, query="marmot"), lambda: vsc.files.list(store.id),
                  lambda: vsc.files.create(vector_store_id=store.id, file_id=mine.id),
                  lambda: vsc.files.retrieve(file.id, vector_store_id=store.id),
                  lambda: vsc.files.update(file.id, vector_store_id=store.id, attributes={}),
                  lambda: list(vsc.files.content(file.id, vector_store_id=store.id)),
                  lambda: vsc.files.delete(file.id, vector_store_id=store.id),
                  lambda: vsc.file_batches.create(vector_store_id=store.id, file_ids=[mine.id]),
                  lambda: vsc.file_batches.retrieve(batch.id, vector_store_id=store.id),
                  lambda: vsc.file_batches.cancel(batch.id, vector_store_id=store.id),
                  lambda: vsc.file_batches.list_files(batch.id, vector_store_id=store.id),
                  lambda: vsc.delete(store.id)):
        with pytest.raises(openai.NotFoundError) as info:
            route()
        assert info.value.body["message"] == f"No vector store found with id '{store.id}'."
    assert store.id not in [s.id for s in beta.vector_stores.list()]
    assert [s.id for s in alpha.vector_stores.list()] == [store.id]
    with pytest.raises(openai.BadRequestError) as info:  # alpha's file is as unknown to beta as a missing one
        beta.vector_stores.create(name="b", file_ids=[file.id])
    assert info.value.body["param"] == "file_ids[0]"
    assert alpha.vector_stores.retrieve(store.id).file_counts.completed == 1


def test_assistants_and_threads_name_stores_of_their_project_only(two_projects):
    alpha, beta = two_projects
    store = alpha.vector_stores.create(name="alpha's")
    named = {"file_search": {"vector_store_ids": [store.id]}}
    assistant, thread = beta.beta.assistants.create(model="m"), beta.beta.threads.create()
    for route in (lambda: beta.beta.assistants.create(model="m", tool_resources=named),
                  lambda: beta.beta.assistants.update(assistant.id, tool_resources=named),
                  lambda: beta.beta.threads.create(tool_resources=named),
                  lambda: beta.beta.threads.update(thread.id, tool_resources=named)):
        with pytest.raises(openai.BadRequestError) as info:
            route()
        assert info.value.body["param"] == "tool_resources.file_search.vector_store_ids[0]"
        assert info.value.body["message"] == f"No vector store found with id '{store.id}'."
    mine = alpha.beta.threads.create(tool_resources=named)
    assert mine.tool_resources.file_search.vector_store_ids == [store.id]
    # beta's attachment makes beta's own store for beta's thread, never touching alpha's
    file = beta.files.create(file=("b.txt", b"beta's otters"), purpose="assistants")
    beta.beta.threads.messages.create(thread.id, role="user", content="x", attachments=[
        {"file_id": file.id, "tools": [{"type": "file_search"}]}])
    [made] = beta.beta.threads.retrieve(thread.id).tool_resources.file_search.vector_store_ids
    assert [s.id for s in beta.vector_stores.list()] == [made]
    assert alpha.vector_stores.retrieve(store.id).file_counts.total == 0


def test_upload_and_poll_over_http_returns_the_ingested_file():
    with serving(App(embedder=fake_embedder())) as server, \
            openai.OpenAI(base_url=server.base_url, api_key="k", timeout=5.0, max_retries=0) as client:
        store = client.vector_stores.create(name="s")
        file = client.vector_stores.files.upload_and_poll(vector_store_id=store.id,
                                                          file=("a.md", b"# Marmots\n"))
        assert file.status == "completed"
        batch = client.vector_stores.file_batches.upload_and_poll(store.id, files=[("b.txt", b"otters")])
        assert batch.status == "completed" and batch.file_counts.completed == 1
