"""The Files and Uploads APIs over HTTP (the FilesAPITests kit through a real server, sync and async
clients), and project isolation: one API key's files and uploads are invisible to another project's
key, in every route."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from supercompat import App
from supercompat.images import data_url
from supercompat.testing import FilesAPITests, scripted_client_adapter
from supercompat.testing.images import PNG

from conftest import serving

ALPHA, BETA = "sk-files-alpha-0123456789", "sk-files-beta-0123456789"


class TestFilesOverHTTP(FilesAPITests):
    @pytest.fixture(params=["sync-client", "async-client"])
    async def files_client(self, request: pytest.FixtureRequest, files_app: App, http_server: Any
                           ) -> AsyncIterator[Any]:
        http_server.asgi.app = files_app
        client = http_server.client(request.param)
        yield client
        if isinstance(client, openai.AsyncOpenAI):
            await client.close()

    def test_the_server_answered(self, http_server: Any, files_client: Any) -> None:
        """Not in process: the client's requests go over loopback HTTP."""
        assert str(files_client.base_url) == http_server.base_url + "/"


@pytest.fixture(scope="module")
def two_projects():
    with serving(App(), api_keys=[ALPHA, BETA]) as server:
        yield server.client(api_key=ALPHA), server.client(api_key=BETA)


def test_another_projects_files_are_invisible_in_every_route(two_projects):
    alpha, beta = two_projects
    file = alpha.files.create(file=("secret.txt", b"alpha only"), purpose="assistants")
    assert beta.files.create(file=("mine.txt", b"beta"), purpose="assistants").bytes == 4
    for route in (beta.files.retrieve, beta.files.content, beta.files.delete):
        with pytest.raises(openai.NotFoundError) as info:
            route(file.id)
        assert file.id in info.value.body["message"]
    assert file.id not in [f.id for f in beta.files.list()]
    assert [f.id for f in alpha.files.list()] == [file.id]
    assert [f.id for f in beta.files.list(purpose="assistants")] != [file.id]
    assert alpha.files.content(file.id).content == b"alpha only"


def test_another_projects_uploads_are_invisible_in_every_route(two_projects):
    alpha, beta = two_projects
    upload = alpha.uploads.create(bytes=3, filename="a.txt", mime_type="text/plain", purpose="assistants")
    part = alpha.uploads.parts.create(upload.id, data=b"abc")
    for route in (lambda: beta.uploads.parts.create(upload.id, data=b"abc"),
                  lambda: beta.uploads.complete(upload.id, part_ids=[part.id]),
                  lambda: beta.uploads.cancel(upload.id)):
        with pytest.raises(openai.NotFoundError):
            route()
    done = alpha.uploads.complete(upload.id, part_ids=[part.id])
    assert done.status == "completed"
    with pytest.raises(openai.NotFoundError):
        beta.files.retrieve(done.file.id)
    assert done.file.id not in [f.id for f in beta.files.list()]
    assert alpha.files.content(done.file.id).content == b"abc"


def test_another_projects_file_cannot_be_named(two_projects):
    """A message, thread or assistant of one project naming another project's file is refused as if
    the file did not exist."""
    alpha, beta = two_projects
    file = alpha.files.create(file=("secret.png", b"\x89PNG\r\n\x1a\nalpha"), purpose="vision")
    thread = beta.beta.threads.create()
    requests = {
        "content[0].image_file.file_id": lambda: beta.beta.threads.messages.create(
            thread.id, role="user", content=[{"type": "image_file", "image_file": {"file_id": file.id}}]),
        "attachments[0].file_id": lambda: beta.beta.threads.messages.create(
            thread.id, role="user", content="x", attachments=[{"file_id": file.id, "tools": []}]),
        "tool_resources.code_interpreter.file_ids[0]": lambda: beta.beta.assistants.create(
            model="m", tool_resources={"code_interpreter": {"file_ids": [file.id]}}),
    }
    for param, request in requests.items():
        with pytest.raises(openai.BadRequestError) as info:
            request()
        assert info.value.body["param"] == param and file.id in info.value.body["message"]
    assert beta.beta.threads.messages.list(thread.id).data == []
    named = alpha.beta.threads.create(messages=[{"role": "user", "content": [
        {"type": "image_file", "image_file": {"file_id": file.id}}]}])
    assert alpha.beta.threads.messages.list(named.id).data[0].content[0].image_file.file_id == file.id


def test_a_run_reads_the_image_files_of_its_threads_project_only():
    """A run over a scoped key's thread reads that project's image files; a file that has become
    another project's since the message named it fails the run, unread (``invalid_prompt``)."""
    scripted = scripted_client_adapter()
    app = App(client_adapter=scripted)
    with serving(app, api_keys=[ALPHA, BETA]) as server:
        alpha = server.client(api_key=ALPHA)
        file = alpha.files.create(file=("pixel.png", PNG), purpose="vision")
        assistant = alpha.beta.assistants.create(model="m")
        thread = alpha.beta.threads.create(messages=[{"role": "user", "content": [
            {"type": "image_file", "image_file": {"file_id": file.id}}]}])
        run = alpha.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        assert run.status == "completed", run.last_error
        [part] = scripted.requests[-1]["messages"][0]["content"]
        assert part["image_url"]["url"] == data_url("image/png", PNG)

        async def move() -> None:  # the file becomes another project's (memory storage: no loop of its own)
            stored = await app.storage.get_file(file.id)
            await app.storage.delete_file(file.id)
            await app.storage.create_file({**stored, "project": "another"})

        asyncio.run(move())
        run = alpha.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        assert run.status == "failed" and run.last_error.code == "invalid_prompt"
        assert file.id in run.last_error.message and "does not exist" in run.last_error.message
        assert len(scripted.requests) == 1
