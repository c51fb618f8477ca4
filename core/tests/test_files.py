"""The Files and Uploads APIs in process (the FilesAPITests kit, sync and async clients), and the one
place that stores a file: a failure on the way leaves neither bytes nor metadata."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from supercompat import App, supercompat
from supercompat.blobs import MemoryBlobStore
from supercompat.files import store_file
from supercompat.loop import run_sync
from supercompat.storage import ListQuery
from supercompat.testing import FilesAPITests, app_of

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it


class TestFilesInProcess(FilesAPITests):
    pass


class Boom(Exception):
    pass


async def failing_after(n: int) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield b"x" * 1000
    raise Boom


def test_a_chunk_source_failing_part_way_leaves_nothing():
    app = App()

    async def attempt() -> None:
        with pytest.raises(Boom):
            await store_file(app, project=None, filename="a.txt", purpose="assistants",
                             chunks=failing_after(3))
        assert (await app.storage.list_files(ListQuery())).data == []
        assert app.blobs._blobs == {}
        await app.aclose(grace=0)

    run_sync(attempt())


def test_metadata_failing_to_store_removes_the_bytes():
    app = App(blob_store=MemoryBlobStore())

    async def refused(file: dict[str, Any]) -> None:
        raise Boom

    async def attempt() -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"abc"

        with pytest.raises(Boom):
            await store_file(app, project=None, filename="a.txt", purpose="assistants", chunks=chunks(),
                             record=refused)
        assert app.blobs._blobs == {}
        await app.aclose(grace=0)

    run_sync(attempt())


def test_a_file_whose_bytes_are_gone_reads_as_missing():
    client = supercompat(max_retries=0)
    file = client.files.create(file=("a.txt", b"abc"), purpose="assistants")
    app = app_of(client)
    run_sync(app.blobs.delete(file.id))
    with pytest.raises(openai.NotFoundError):
        client.files.content(file.id)
    assert client.files.retrieve(file.id).id == file.id  # the metadata is still there to delete
    assert client.files.delete(file.id).deleted


def test_each_new_upload_sweeps_the_parts_of_abandoned_ones():
    client = supercompat(max_retries=0)
    app = app_of(client)
    abandoned = client.uploads.create(bytes=6, filename="a.bin", mime_type="application/octet-stream",
                                      purpose="assistants")
    part = client.uploads.parts.create(abandoned.id, data=b"abc")
    key = f"{abandoned.id}/{part.id}"
    assert run_sync(app.blobs.size(key)) == 3
    run_sync(app.storage.update_upload(abandoned.id, {"expires_at": abandoned.created_at - 1}))
    assert run_sync(app.blobs.size(key)) == 3  # nothing ran yet
    client.uploads.create(bytes=1, filename="b.bin", mime_type="text/plain", purpose="assistants")
    assert run_sync(app.blobs.size(key)) is None
    assert run_sync(app.storage.get_upload(abandoned.id))["status"] == "expired"
