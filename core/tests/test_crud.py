"""The CRUD surface through the real openai SDK, sync and async."""

from __future__ import annotations

import openai
import pytest

from conftest import call, collect

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it

FUNCTION_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city", "strict": False,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


async def a_file(client) -> str:
    return (await call(client.files.create(file=("notes.txt", b"notes"), purpose="assistants"))).id


async def test_assistant_round_trip(client):
    file_id = await a_file(client)
    sent = dict(model="gpt-4.1-mini", name="Reviewer", description="Reviews text",
                instructions="Be brief.", tools=[FUNCTION_TOOL, {"type": "code_interpreter"}],
                tool_resources={"code_interpreter": {"file_ids": [file_id]}}, metadata={"team": "docs"},
                temperature=0.3, top_p=0.9,
                response_format={"type": "json_schema", "json_schema": {
                    "name": "review", "schema": {"type": "object"}, "strict": True}})
    created = await call(client.beta.assistants.create(**sent))
    assert created.id.startswith("asst_") and created.object == "assistant"
    raw = created.model_dump(exclude_unset=True, mode="json", by_alias=True)
    for key, value in sent.items():
        assert raw[key] == value, key
    assert await call(client.beta.assistants.retrieve(created.id)) == created


async def test_assistant_defaults(client):
    a = await call(client.beta.assistants.create(model="m"))
    assert (a.name, a.description, a.instructions) == (None, None, None)
    assert a.tools == [] and a.metadata == {} and a.response_format == "auto"
    assert (a.temperature, a.top_p) == (1.0, 1.0)


async def test_assistant_update_keeps_untouched_fields(client):
    a = await call(client.beta.assistants.create(model="m", name="n", instructions="i", metadata={"a": "1"}))
    u = await call(client.beta.assistants.update(a.id, name="renamed", metadata={"b": "2"}))
    assert (u.name, u.instructions, u.metadata, u.created_at) == ("renamed", "i", {"a": "1", "b": "2"}, a.created_at)
    assert await call(client.beta.assistants.retrieve(a.id)) == u


async def test_assistant_delete(client):
    a = await call(client.beta.assistants.create(model="m"))
    deleted = await call(client.beta.assistants.delete(a.id))
    assert (deleted.id, deleted.object, deleted.deleted) == (a.id, "assistant.deleted", True)
    with pytest.raises(openai.NotFoundError) as info:
        await call(client.beta.assistants.retrieve(a.id))
    assert info.value.body["message"] == f"No assistant found with id '{a.id}'."
    assert info.value.body["type"] == "invalid_request_error"


async def test_thread_with_initial_messages(client):
    image, attached = await a_file(client), await a_file(client)
    store = await call(client.vector_stores.create(name="the thread's"))
    t = await call(client.beta.threads.create(
        messages=[{"role": "user", "content": "first", "metadata": {"i": "0"}},
                  {"role": "assistant", "content": [{"type": "text", "text": "second"}]},
                  {"role": "user", "content": [
                      {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                      {"type": "image_file", "image_file": {"file_id": image}}],
                   "attachments": [{"file_id": attached, "tools": [{"type": "file_search"}]}]}],
        metadata={"user": "42"}, tool_resources={"file_search": {"vector_store_ids": [store.id]}}))
    assert t.id.startswith("thread_") and t.metadata == {"user": "42"}
    assert t.tool_resources.file_search.vector_store_ids == [store.id]
    messages = (await call(client.beta.threads.messages.list(t.id, order="asc"))).data
    assert [m.role for m in messages] == ["user", "assistant", "user"]
    assert messages[0].content[0].text.value == "first" and messages[0].metadata == {"i": "0"}
    assert messages[1].content[0].text.value == "second"
    assert messages[2].content[0].image_url.url == "https://example.com/a.png"
    assert messages[2].content[0].image_url.detail == "low"
    assert messages[2].content[1].image_file.file_id == image
    assert messages[2].attachments[0].file_id == attached
    assert all(m.thread_id == t.id and m.run_id is None and m.assistant_id is None for m in messages)


async def test_thread_update_and_delete_cascades(client):
    t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "x"}]))
    u = await call(client.beta.threads.update(t.id, metadata={"k": "v"}))
    assert u.metadata == {"k": "v"} and u.created_at == t.created_at
    m = (await call(client.beta.threads.messages.list(t.id))).data[0]
    deleted = await call(client.beta.threads.delete(t.id))
    assert (deleted.id, deleted.object, deleted.deleted) == (t.id, "thread.deleted", True)
    with pytest.raises(openai.NotFoundError):
        await call(client.beta.threads.retrieve(t.id))
    with pytest.raises(openai.NotFoundError):
        await call(client.beta.threads.messages.retrieve(m.id, thread_id=t.id))


async def test_message_crud(client):
    t = await call(client.beta.threads.create())
    m = await call(client.beta.threads.messages.create(t.id, role="user", content="hello",
                                                       metadata={"a": "b"}))
    assert m.id.startswith("msg_") and m.object == "thread.message" and m.status == "completed"
    assert m.content[0].text.value == "hello" and m.content[0].text.annotations == []
    assert await call(client.beta.threads.messages.retrieve(m.id, thread_id=t.id)) == m
    u = await call(client.beta.threads.messages.update(m.id, thread_id=t.id, metadata={"c": "d"}))
    assert u.metadata == {"a": "b", "c": "d"} and u.content == m.content
    d = await call(client.beta.threads.messages.delete(m.id, thread_id=t.id))
    assert (d.id, d.object, d.deleted) == (m.id, "thread.message.deleted", True)
    assert (await call(client.beta.threads.messages.list(t.id))).data == []


async def test_pagination_walks_every_page(client):
    names = [f"a{i}" for i in range(7)]
    for name in names:
        await call(client.beta.assistants.create(model="m", name=name))
    page = await call(client.beta.assistants.list(limit=3))
    assert [a.name for a in page.data] == ["a6", "a5", "a4"] and page.has_more
    assert page.first_id == page.data[0].id and page.last_id == page.data[-1].id
    everything = await collect(client.beta.assistants.list(limit=3, order="asc"))
    assert [a.name for a in everything] == names
    tail = await call(client.beta.assistants.list(order="asc", after=everything[4].id))
    assert [a.name for a in tail.data] == ["a5", "a6"] and not tail.has_more
    before = await call(client.beta.assistants.list(order="desc", before=everything[2].id, limit=2))
    assert [a.name for a in before.data] == ["a4", "a3"] and before.has_more
    # The auto-pager keeps `before` and adds `after`: both bounds hold together.
    bounded = await collect(client.beta.assistants.list(order="asc", limit=2, before=everything[5].id))
    assert [a.name for a in bounded] == ["a3", "a4"]


async def test_message_list_filters_by_run_id(client):
    t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "x"}]))
    page = await call(client.beta.threads.messages.list(t.id, run_id="run_none"))
    assert page.data == [] and page.has_more is False and page.first_id is None


@pytest.mark.parametrize("kwargs, param", [
    (dict(model="m", name="n" * 257), "name"),
    (dict(model="m", description="d" * 513), "description"),
    (dict(model="m", instructions="i" * 256_001), "instructions"),
    (dict(model="m", metadata={f"k{i}": "v" for i in range(17)}), "metadata"),
    (dict(model="m", metadata={"k" * 65: "v"}), "metadata"),
    (dict(model="m", metadata={"k": "v" * 513}), "metadata.k"),
    (dict(model="m", temperature=2.5), "temperature"),
    (dict(model="m", top_p=-0.1), "top_p"),
    (dict(model="m", tools=[{"type": "browser"}]), "tools[0].type"),
    (dict(model="m", tools=[{"type": "function", "function": {"name": "bad name"}}]), "tools[0].function.name"),
    (dict(model="m", response_format={"type": "json_schema"}), "response_format.json_schema"),
    (dict(model=123), "model"),
    (dict(model=None), "model"),
])
async def test_assistant_validation(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as info:
        await call(client.beta.assistants.create(**kwargs))
    assert info.value.param == param
    assert info.value.body["type"] == "invalid_request_error"
    assert (await call(client.beta.assistants.list())).data == []  # nothing half-stored


async def test_unknown_argument_is_rejected(client):
    with pytest.raises(openai.BadRequestError) as info:
        await call(client.beta.assistants.create(model="m", extra_body={"colour": "red"}))
    assert info.value.param == "colour"
    assert "Unrecognized request argument supplied: colour" in info.value.message


@pytest.mark.parametrize("query, param", [({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
                                          ({"order": "sideways"}, "order")])
async def test_list_query_validation(client, query, param):
    with pytest.raises(openai.BadRequestError) as info:
        await call(client.beta.assistants.list(**query))
    assert info.value.param == param


@pytest.mark.parametrize("content, param", [
    ([], "content"), ([{"type": "audio", "audio": {}}], "content[0].type"), (5, "content"),
    ([{"type": "image_url", "image_url": {}}], "content[0].image_url.url"),
])
async def test_message_validation(client, content, param):
    t = await call(client.beta.threads.create())
    with pytest.raises(openai.BadRequestError) as info:
        await call(client.beta.threads.messages.create(t.id, role="user", content=content))
    assert info.value.param == param


async def test_message_in_unknown_thread_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        await call(client.beta.threads.messages.create("thread_nope", role="user", content="x"))
    assert "No thread found with id 'thread_nope'." in info.value.message
    with pytest.raises(openai.NotFoundError):
        await call(client.beta.threads.messages.list("thread_nope"))


async def test_initial_message_errors_name_their_index(client):
    with pytest.raises(openai.BadRequestError) as info:
        await call(client.beta.threads.create(messages=[{"role": "user", "content": "ok"},
                                                        {"role": "system", "content": "no"}]))
    assert info.value.param == "messages[1].role"
