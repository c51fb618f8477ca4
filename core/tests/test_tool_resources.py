"""The vector stores of threads made or fed by runs: a run's additional_messages and create_and_run's
thread attach their files for file_search to the thread's store, and create_and_run's
vector_stores helper makes the new thread's store. (The rest is the VectorStoresAPITests kit's.)"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from supercompat import async_supercompat, supercompat
from supercompat.testing import scripted_client_adapter

from conftest import call

pytestmark = pytest.mark.sdk


@pytest.fixture(params=["sync", "async"])
def client(request: pytest.FixtureRequest) -> Any:
    factory = supercompat if request.param == "sync" else async_supercompat
    return factory(client_adapter=scripted_client_adapter(["Noted."] * 4), max_retries=0)


async def uploaded(client: Any, name: str, text: str) -> str:
    return (await call(client.files.create(file=(name, text.encode()), purpose="assistants"))).id


def attaching(*file_ids: str) -> dict[str, Any]:
    return {"role": "user", "content": "see attached",
            "attachments": [{"file_id": f, "tools": [{"type": "file_search"}]} for f in file_ids]}


async def store_files(client: Any, store_id: str) -> list[str]:
    return sorted(f.id for f in (await call(client.vector_stores.files.list(store_id))).data)


async def test_a_runs_additional_messages_attach_to_the_threads_store(client: Any) -> None:
    assistant = await call(client.beta.assistants.create(model="m"))
    thread = await call(client.beta.threads.create())
    files = sorted([await uploaded(client, "a.txt", "alpha"), await uploaded(client, "b.txt", "beta")])
    run = await call(client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, additional_messages=[attaching(files[0]),
                                                                             attaching(files[1])]))
    assert run.status == "completed"
    resources = (await call(client.beta.threads.retrieve(thread.id))).tool_resources
    [store_id] = resources.file_search.vector_store_ids
    assert await store_files(client, store_id) == files
    store = await call(client.vector_stores.retrieve(store_id))
    assert store.expires_after is not None and store.expires_after.days == 7


async def test_create_and_run_makes_the_new_threads_store(client: Any) -> None:
    assistant = await call(client.beta.assistants.create(model="m"))
    given, attached = await uploaded(client, "a.txt", "alpha"), await uploaded(client, "b.txt", "beta")
    run = await call(client.beta.threads.create_and_run_poll(assistant_id=assistant.id, thread={
        "messages": [attaching(attached)],
        "tool_resources": {"file_search": {"vector_stores": [{"file_ids": [given]}]}}}))
    assert run.status == "completed"
    thread = await call(client.beta.threads.retrieve(run.thread_id))
    [store_id] = thread.tool_resources.file_search.vector_store_ids
    assert await store_files(client, store_id) == sorted([given, attached])

    bare = await call(client.beta.threads.create_and_run_poll(assistant_id=assistant.id,
                                                              thread={"messages": [attaching(attached)]}))
    resources = (await call(client.beta.threads.retrieve(bare.thread_id))).tool_resources
    [made] = resources.file_search.vector_store_ids
    assert made != store_id and await store_files(client, made) == [attached]


async def test_create_and_run_names_stores_of_the_project_only(client: Any) -> None:
    assistant = await call(client.beta.assistants.create(model="m"))
    for resources, param in (
            ({"tool_resources": {"file_search": {"vector_store_ids": ["vs_nope"]}}},
             "tool_resources.file_search.vector_store_ids[0]"),
            ({"thread": {"tool_resources": {"file_search": {"vector_store_ids": ["vs_nope"]}}}},
             "thread.tool_resources.file_search.vector_store_ids[0]")):
        with pytest.raises(openai.BadRequestError) as info:
            await call(client.beta.threads.create_and_run(assistant_id=assistant.id, **resources))
        assert info.value.body["param"] == param
        assert info.value.body["message"] == "No vector store found with id 'vs_nope'."
    assert (await call(client.vector_stores.list())).data == []
