"""Image parts of user messages reach the model: ``image_file`` parts as ``data:`` URLs of the file's
bytes (read from the blob store, the media type told from the bytes), ``image_url`` parts as given;
a file that can't be sent fails the run, ``invalid_prompt``."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from supercompat import async_supercompat, loop, supercompat
from supercompat.blobs import MemoryBlobStore
from supercompat.errors import InvalidPrompt
from supercompat.images import MAX_IMAGE_BYTES, data_url, image_type, split_data_url
from supercompat.runs import RunContext, completions
from supercompat.testing import app_of, scripted_client_adapter
from supercompat.testing.images import IMAGE_URL_PARTS, PNG, PNG_BASE64, put_file

from conftest import call

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00;"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
QUESTION = {"type": "text", "text": "What is in it?"}


@pytest.fixture(params=["sync", "async"])
def kind(request):
    return request.param


def make(kind: str, *replies: Any) -> tuple[Any, Any]:
    scripted = scripted_client_adapter(list(replies))
    factory = supercompat if kind == "sync" else async_supercompat
    return factory(client_adapter=scripted, max_retries=0), scripted


def image_file(file_id: str, **detail: str) -> dict[str, Any]:
    return {"type": "image_file", "image_file": {"file_id": file_id, **detail}}


async def run_thread(client: Any, *contents: list[dict[str, Any]], **run: Any) -> Any:
    """A thread of user messages with these contents, run to its end."""
    a = await call(client.beta.assistants.create(model="gpt-4.1-mini"))
    t = await call(client.beta.threads.create(messages=[{"role": "user", "content": c} for c in contents]))
    return await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, **run))


@pytest.mark.parametrize(("data", "media_type"), [
    (PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp"),
    (b"%PDF-1.7\n", None), (b"RIFF", None), (b"", None), (b"GIF8", None), (PNG[:7], None)])
def test_an_images_type_is_told_from_its_bytes(data, media_type):
    assert image_type(data) == media_type


def test_data_urls_split_into_media_type_and_base64():
    assert split_data_url(data_url("image/png", PNG)) == ("image/png", PNG_BASE64)
    assert split_data_url("data:Image/GIF;name=a.gif;base64,R0lG") == ("image/gif", "R0lG")
    svg = base64.b64encode(b"<svg/>").decode()
    assert split_data_url("data:image/svg+xml,%3Csvg%2F%3E") == ("image/svg+xml", svg)
    assert split_data_url("https://example.com/a.png") is None
    for bad in ("data:,abc", "data:image/png;base64,", "data:image/png;base64"):
        with pytest.raises(ValueError, match="media type and data"):
            split_data_url(bad)


async def test_an_image_file_part_reaches_the_model_as_a_data_url_of_the_files_bytes(kind):
    client, scripted = make(kind, "A red and a blue pixel.")
    file_id = put_file(client, PNG)
    run = await run_thread(client, [QUESTION, image_file(file_id, detail="high"), image_file(file_id)])
    assert run.status == "completed", run.last_error
    url = f"data:image/png;base64,{PNG_BASE64}"
    assert scripted.requests[-1]["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is in it?"},
        {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
        {"type": "image_url", "image_url": {"url": url}}]}]
    # The message itself is stored as it was written.
    [message] = (await call(client.beta.threads.messages.list(run.thread_id, order="asc"))).data[:1]
    assert [part.type for part in message.content] == ["text", "image_file", "image_file"]


@pytest.mark.parametrize(("data", "media_type"), [(JPEG, "image/jpeg"), (GIF, "image/gif"),
                                                  (WEBP, "image/webp")])
async def test_the_media_type_comes_from_the_bytes(data, media_type):
    client, scripted = make("sync")
    file_id = put_file(client, data)
    run = await run_thread(client, [image_file(file_id)])
    assert run.status == "completed", run.last_error
    [part] = scripted.requests[-1]["messages"][0]["content"]
    assert part == {"type": "image_url", "image_url": {"url": data_url(media_type, data)}}


async def test_image_url_parts_pass_through_with_their_detail(kind):
    client, scripted = make(kind)
    run = await run_thread(client, [QUESTION, *IMAGE_URL_PARTS])
    assert run.status == "completed", run.last_error
    assert scripted.requests[-1]["messages"][0]["content"][1:] == list(IMAGE_URL_PARTS)


async def test_a_file_that_is_no_image_fails_the_run_before_the_model_is_called(kind):
    client, scripted = make(kind)
    file_id = put_file(client, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    run = await run_thread(client, [QUESTION, image_file(file_id)])
    assert run.status == "failed" and run.last_error.code == "invalid_prompt"
    assert file_id in run.last_error.message and "content[1]" in run.last_error.message
    assert "not an image" in run.last_error.message and "PNG, JPEG, WEBP or GIF" in run.last_error.message
    assert scripted.requests == []


def gone_file(client: Any) -> str:
    """A File whose bytes are gone from the blob store (its metadata stays): what a run finds if a
    blob store loses a file, or another process deletes it while the run builds its prompt."""
    file_id = put_file(client, PNG)
    loop.run_sync(app_of(client).blobs.delete(file_id))
    return file_id


async def test_a_missing_file_fails_the_run(kind):
    client, scripted = make(kind)
    gone = gone_file(client)
    run = await run_thread(client, [image_file(gone)])
    assert run.status == "failed" and run.last_error.code == "invalid_prompt"
    assert gone in run.last_error.message and "does not exist" in run.last_error.message
    assert scripted.requests == []


@pytest.mark.parametrize("file_id", ["../../etc/passwd", "file-a/../../b", "file-" + "x" * 200])
async def test_a_file_id_that_is_no_key_core_makes_is_never_read(file_id):
    """A message's file id comes from a client: one that is no file id never reaches the blob store
    (a directory-backed store would read outside its directory); the message is refused."""
    client, scripted = make("sync")
    read = []
    blobs = app_of(client).blobs
    size, reader = blobs.size, blobs.read
    blobs.size = lambda key: read.append(key) or size(key)
    blobs.read = lambda key, *a: read.append(key) or reader(key, *a)
    with pytest.raises(openai.BadRequestError, match="No file found with id"):
        await run_thread(client, [image_file(file_id)])
    assert read == [] and scripted.requests == []


async def test_an_image_over_20_mb_fails_the_run():
    client, scripted = make("sync")
    file_id = put_file(client, PNG + bytes(MAX_IMAGE_BYTES + 1 - len(PNG)))
    run = await run_thread(client, [image_file(file_id)])
    assert run.status == "failed" and run.last_error.code == "invalid_prompt"
    assert "larger than 20 MB" in run.last_error.message
    assert scripted.requests == []


async def test_an_image_of_exactly_20_mb_is_sent():
    client, scripted = make("sync")
    data = PNG + bytes(MAX_IMAGE_BYTES - len(PNG))
    run = await run_thread(client, [image_file(put_file(client, data))])
    assert run.status == "completed", run.last_error
    [part] = scripted.requests[-1]["messages"][0]["content"]
    assert part["image_url"]["url"] == data_url("image/png", data)


async def test_the_images_of_one_request_are_bounded_together(monkeypatch):
    """Every part counts for what it carries: a file named twice is sent twice (each part has its own
    data: URL), though its bytes are read once."""
    monkeypatch.setattr(completions, "MAX_REQUEST_IMAGE_BYTES", 2 * len(PNG))  # OpenAI's: 50 MB
    client, scripted = make("sync")
    first, second, third = (put_file(client, PNG) for _ in range(3))
    reads = count_reads(client)
    run = await run_thread(client, [image_file(first), image_file(first)])
    assert run.status == "completed", run.last_error
    assert reads == [first]
    for named in ([first, second, third], [first, second, first], [first, first, first]):
        run = await run_thread(client, [image_file(file_id) for file_id in named])
        assert run.status == "failed" and run.last_error.code == "invalid_prompt"
        message = run.last_error.message
        assert "content[2]" in message and "the most one request may carry" in message
    assert len(scripted.requests) == 1


def count_reads(client: Any) -> list[str]:
    """The keys the App's blob store is read under, from now on."""
    reads: list[str] = []
    blobs = app_of(client).blobs
    reader = blobs.read
    blobs.read = lambda key, *a: reads.append(key) or reader(key, *a)
    return reads


def project_of_another(client: Any, file_id: str) -> None:
    """File ``file_id`` becomes another project's (its bytes stay)."""
    storage = app_of(client).storage
    file = loop.run_sync(storage.get_file(file_id))
    loop.run_sync(storage.delete_file(file_id))
    loop.run_sync(storage.create_file({**file, "project": "proj_other"}))


def expired(client: Any, file_id: str) -> None:
    """File ``file_id`` expired a second ago (its bytes stay)."""
    storage = app_of(client).storage
    file = loop.run_sync(storage.get_file(file_id))
    loop.run_sync(storage.delete_file(file_id))
    loop.run_sync(storage.create_file({**file, "expires_at": int(time.time()) - 1}))


def metadata_gone(client: Any, file_id: str) -> None:
    """File ``file_id`` is deleted from storage, its bytes left behind."""
    loop.run_sync(app_of(client).storage.delete_file(file_id))


@pytest.mark.parametrize("change", [project_of_another, expired, metadata_gone])
async def test_a_file_the_run_may_not_read_fails_the_run_before_its_bytes_are_read(kind, change):
    """Messages name only files of their project that exist, when they are written; a run checks again
    (the file is looked up, not only its bytes): a file deleted, expired or another project's since
    is as missing, and its bytes are never read."""
    client, scripted = make(kind)
    file_id = put_file(client, PNG)
    a = await call(client.beta.assistants.create(model="gpt-4.1-mini"))
    content = [image_file(file_id)]
    t = await call(client.beta.threads.create(messages=[{"role": "user", "content": content}]))
    change(client, file_id)
    reads = count_reads(client)
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    assert run.status == "failed" and run.last_error.code == "invalid_prompt"
    assert file_id in run.last_error.message and "does not exist" in run.last_error.message
    assert reads == [] and scripted.requests == []


async def test_a_file_in_its_projects_window_is_read():
    """The check lets through what it should: a file of the thread's project that expires later."""
    client, scripted = make("sync")
    file_id = put_file(client, PNG)
    storage = app_of(client).storage
    file = loop.run_sync(storage.get_file(file_id))
    loop.run_sync(storage.delete_file(file_id))
    loop.run_sync(storage.create_file({**file, "expires_at": int(time.time()) + 3600}))
    run = await run_thread(client, [image_file(file_id)])
    assert run.status == "completed", run.last_error


class GrowingBlobs(MemoryBlobStore):
    """A store whose blobs grow between ``size`` and ``read`` (another writer), and which records
    whether each read was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[str]] = []

    async def size(self, key: str) -> int | None:
        return 1

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        state = ["open"]
        self.reads.append(state)
        try:
            for _ in range(3):
                yield PNG
        finally:
            state[0] = "closed"


async def test_a_read_cut_short_is_closed_at_once():
    """A read that stops early (the file grew past the limit since its size was asked) closes the
    store's reader before the run goes on: an S3 body or an open file is not held until garbage
    collection."""
    blobs = GrowingBlobs()
    client, scripted = make("sync")
    app = app_of(client)
    app.blobs = blobs
    file_id = put_file(client, PNG)
    content = [image_file(file_id)]
    thread = await call(client.beta.threads.create(messages=[{"role": "user", "content": content}]))
    ctx = RunContext(run={"thread_id": thread.id}, storage=app.storage, client=None, blobs=blobs)
    with pytest.raises(InvalidPrompt, match="would take the prompt's images over"):
        await completions._image_bytes(ctx, file_id, len(PNG) + 1, "content[0] of message m")
    assert blobs.reads == [["closed"]]


async def test_only_the_messages_the_prompt_keeps_have_their_files_read(kind):
    """Files of messages left out by the truncation strategy or max_prompt_tokens are not read: a
    missing one fails nothing."""
    client, scripted = make(kind)
    file_id = put_file(client, PNG)
    old, kept = [QUESTION, image_file(gone_file(client))], [QUESTION, image_file(file_id)]
    last_one = {"type": "last_messages", "last_messages": 1}
    run = await run_thread(client, old, kept, truncation_strategy=last_one)
    assert run.status == "completed", run.last_error
    run = await run_thread(client, old, kept, max_prompt_tokens=1000)  # an image counts as 765 tokens
    assert run.status == "completed", run.last_error
    for request in scripted.requests:
        [message] = request["messages"]
        assert message["content"][1]["image_url"]["url"] == data_url("image/png", PNG)


async def test_assistant_messages_keep_their_images_out_of_the_prompt(kind):
    """Chat completions take images in user messages only; an assistant's image_file parts (a tool's
    output) are not read."""
    client, scripted = make(kind)
    a = await call(client.beta.assistants.create(model="gpt-4.1-mini"))
    t = await call(client.beta.threads.create(messages=[
        {"role": "user", "content": "Draw it."},
        {"role": "assistant", "content": [image_file(gone_file(client)), {"type": "text", "text": "Here."}]}]))
    run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
    assert run.status == "completed", run.last_error
    assert scripted.requests[-1]["messages"][:2] == [{"role": "user", "content": "Draw it."},
                                                     {"role": "assistant", "content": "Here."}]
