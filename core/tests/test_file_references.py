"""A request that names a file by id (a message's image_file parts and attachments, tool_resources)
is refused with a 400 naming the param when no such file exists, and nothing of it is stored."""

from __future__ import annotations

import openai
import pytest

from conftest import call

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


async def uploaded(client) -> str:
    return (await call(client.files.create(file=("pixel.png", PNG), purpose="vision"))).id


async def refused(request, param: str, file_id: str = "file-missing") -> None:
    """``request()`` (a thunk, so a sync client's call raises inside the check) is refused."""
    with pytest.raises(openai.BadRequestError) as info:
        await call(request())
    assert info.value.status_code == 400
    assert info.value.body == {"message": f"No file found with id '{file_id}'.", "type": "invalid_request_error",
                               "param": param, "code": "invalid_value"}


async def test_a_message_naming_a_missing_file(client):
    thread = await call(client.beta.threads.create())
    known = await uploaded(client)
    await refused(lambda: client.beta.threads.messages.create(
        thread.id, role="user", content="see", attachments=[
            {"file_id": known, "tools": [{"type": "file_search"}]},
            {"file_id": "file-missing", "tools": [{"type": "code_interpreter"}]}]), "attachments[1].file_id")
    await refused(lambda: client.beta.threads.messages.create(thread.id, role="user", content=[
        {"type": "text", "text": "look"}, {"type": "image_file", "image_file": {"file_id": "file-missing"}}]),
        "content[1].image_file.file_id")
    assert (await call(client.beta.threads.messages.list(thread.id))).data == []
    kept = await call(client.beta.threads.messages.create(thread.id, role="user", content=[
        {"type": "image_file", "image_file": {"file_id": known, "detail": "low"}}],
        attachments=[{"file_id": known, "tools": [{"type": "file_search"}]}]))
    assert kept.content[0].image_file.file_id == known and kept.attachments[0].file_id == known


async def test_a_thread_naming_a_missing_file(client):
    known = await uploaded(client)
    await refused(lambda: client.beta.threads.create(messages=[
        {"role": "user", "content": "first", "attachments": [{"file_id": known, "tools": [{"type": "file_search"}]}]},
        {"role": "user", "content": [{"type": "image_file", "image_file": {"file_id": "file-missing"}}]}]),
        "messages[1].content[0].image_file.file_id")
    await refused(lambda: client.beta.threads.create(
        tool_resources={"code_interpreter": {"file_ids": [known, "file-missing"]}}),
        "tool_resources.code_interpreter.file_ids[1]")
    thread = await call(client.beta.threads.create(tool_resources={"code_interpreter": {"file_ids": [known]}}))
    await refused(lambda: client.beta.threads.update(
        thread.id, tool_resources={"code_interpreter": {"file_ids": ["file-missing"]}}),
        "tool_resources.code_interpreter.file_ids[0]")
    kept = await call(client.beta.threads.retrieve(thread.id))
    assert kept.tool_resources.code_interpreter.file_ids == [known]


async def test_an_assistant_naming_a_missing_file(client):
    known = await uploaded(client)
    await refused(lambda: client.beta.assistants.create(
        model="m", tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": ["file-missing"]}}),
        "tool_resources.code_interpreter.file_ids[0]")
    await refused(lambda: client.beta.assistants.create(model="m", tool_resources={"file_search": {"vector_stores": [
        {"file_ids": [known, "file-missing"]}]}}), "tool_resources.file_search.vector_stores[0].file_ids[1]")
    assistant = await call(client.beta.assistants.create(
        model="m", tool_resources={"code_interpreter": {"file_ids": [known]}}))
    await refused(lambda: client.beta.assistants.update(
        assistant.id, name="renamed", tool_resources={"code_interpreter": {"file_ids": ["file-missing"]}}),
        "tool_resources.code_interpreter.file_ids[0]")
    kept = await call(client.beta.assistants.retrieve(assistant.id))
    assert kept.name is None and kept.tool_resources.code_interpreter.file_ids == [known]


async def test_a_run_naming_a_missing_file(client):
    assistant = await call(client.beta.assistants.create(model="m"))
    thread = await call(client.beta.threads.create())
    await refused(lambda: client.beta.threads.runs.create(thread.id, assistant_id=assistant.id, additional_messages=[
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b", "attachments": [{"file_id": "file-missing", "tools": []}]}]),
        "additional_messages[1].attachments[0].file_id")
    assert (await call(client.beta.threads.runs.list(thread.id))).data == []
    assert (await call(client.beta.threads.messages.list(thread.id))).data == []
    await refused(lambda: client.beta.threads.create_and_run(assistant_id=assistant.id, thread={"messages": [
        {"role": "user", "content": [{"type": "image_file", "image_file": {"file_id": "file-missing"}}]}]}),
        "thread.messages[0].content[0].image_file.file_id")
    await refused(lambda: client.beta.threads.create_and_run(
        assistant_id=assistant.id, tool_resources={"code_interpreter": {"file_ids": ["file-missing"]}}),
        "tool_resources.code_interpreter.file_ids[0]")
    await refused(lambda: client.beta.threads.create_and_run(assistant_id=assistant.id, thread={
        "tool_resources": {"code_interpreter": {"file_ids": ["file-missing"]}}}),
        "thread.tool_resources.code_interpreter.file_ids[0]")


async def test_a_deleted_file_is_missing(client):
    thread = await call(client.beta.threads.create())
    known = await uploaded(client)
    await call(client.files.delete(known))
    await refused(lambda: client.beta.threads.messages.create(thread.id, role="user", content="x", attachments=[
        {"file_id": known, "tools": [{"type": "file_search"}]}]), "attachments[0].file_id", known)


async def test_an_expired_file_is_missing(client):
    """A file past its ``expires_at`` is as unknown as a deleted one (OpenAI deletes it then)."""
    from supercompat import loop
    from supercompat.files import store_file
    from supercompat.testing import app_of

    async def chunks():
        yield b"old"

    expired = loop.run_sync(store_file(app_of(client), project=None, filename="old.txt", purpose="assistants",
                                       chunks=chunks(), expires_after_seconds=-1))["id"]
    thread = await call(client.beta.threads.create())
    await refused(lambda: client.beta.threads.messages.create(thread.id, role="user", content="x", attachments=[
        {"file_id": expired, "tools": [{"type": "file_search"}]}]), "attachments[0].file_id", expired)
