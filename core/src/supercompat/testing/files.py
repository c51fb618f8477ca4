"""FilesAPITests: the Files and Uploads APIs through the real openai SDK, sync and async.

The kit serves an App in process by default (memory storage and blob store); a subclass may give
another ``storage_adapter`` or ``blob_store``, or serve ``files_app`` over HTTP by overriding
``files_client`` (see core/tests_server/test_files.py). ``chunked_upload_mib`` sizes the upload sent
in parts with ``uploads.upload_file_chunked`` (200 MiB unless a subclass says otherwise).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import pathlib
from collections.abc import Iterator
from typing import Any

import openai

from .. import async_supercompat, supercompat
from ..app import App
from ..forms import MAX_UPLOAD_PART_BYTES, MIB
from .contract import call, close_app, collect
from .kit import Kit, fixture, pytest
from .uploads import pattern

BINARY = bytes(range(256)) * 3 + b"\r\n\x00\xff end"


async def read_content(client: Any, file_id: str) -> bytes:
    content = await call(client.files.content(file_id))
    return content.content


async def streamed_digest(client: Any, file_id: str) -> tuple[int, str]:
    """The size and SHA-256 of a file's content, read as a stream (never whole in the test)."""
    digest, size = hashlib.sha256(), 0
    if isinstance(client, openai.AsyncOpenAI):
        async with client.files.with_streaming_response.content(file_id) as response:
            async for chunk in response.iter_bytes():
                digest.update(chunk)
                size += len(chunk)
    else:
        with client.files.with_streaming_response.content(file_id) as response:
            for chunk in response.iter_bytes():
                digest.update(chunk)
                size += len(chunk)
    return size, digest.hexdigest()


def error_of(info: Any) -> dict[str, Any]:
    """The ``error`` object of the body of the SDK exception that ``pytest.raises`` caught."""
    return error_of_exception(info.value)


def error_of_exception(exc: Any) -> dict[str, Any]:
    body = exc.body
    return body.get("error", body) if isinstance(body, dict) else {}


class FilesAPITests(Kit, standard=True):
    @fixture
    def storage_adapter(self) -> Any:
        return None  # memory

    @fixture
    def blob_store(self) -> Any:
        return None  # the storage's default, else memory

    @fixture
    def chunked_upload_mib(self) -> int:
        return 200

    @fixture
    def files_app(self, storage_adapter: Any, blob_store: Any) -> App:
        return App(storage_adapter=storage_adapter, blob_store=blob_store)

    @fixture(params=["sync-client", "async-client"])
    def files_client(self, request: pytest.FixtureRequest, storage_adapter: Any,
                     blob_store: Any) -> Iterator[Any]:
        factory = supercompat if request.param == "sync-client" else async_supercompat
        client = factory(storage_adapter=storage_adapter, blob_store=blob_store, max_retries=0)
        yield client
        close_app(client)

    # -- files -------------------------------------------------------------------------------------
    async def test_upload_bytes_a_path_and_a_file_object_and_read_them_back(self, files_client: Any,
                                                                           tmp_path: pathlib.Path) -> None:
        c = files_client
        path = tmp_path / "report.pdf"
        path.write_bytes(BINARY)
        made = [
            await call(c.files.create(file=("notes.txt", b"plain text\n"), purpose="assistants")),
            await call(c.files.create(file=path, purpose="user_data")),
            await call(c.files.create(file=io.BytesIO(BINARY[::-1]), purpose="vision")),
        ]
        with open(path, "rb") as handle:
            made.append(await call(c.files.create(file=handle, purpose="evals")))
        expected = [("notes.txt", b"plain text\n", "assistants"), ("report.pdf", BINARY, "user_data"),
                    (None, BINARY[::-1], "vision"), ("report.pdf", BINARY, "evals")]
        for file, (filename, data, purpose) in zip(made, expected, strict=True):
            assert file.object == "file" and file.id.startswith("file-") and file.status == "processed"
            assert (file.bytes, file.purpose, file.expires_at) == (len(data), purpose, None)
            if filename is not None:
                assert file.filename == filename
            assert isinstance(file.created_at, int)
            assert await call(c.files.retrieve(file.id)) == file
            assert await read_content(c, file.id) == data
            assert set(file.model_dump()) == {"id", "object", "bytes", "created_at", "filename", "purpose",
                                              "status", "expires_at", "status_details"}
        content = await call(c.files.content(made[1].id))
        assert content.response.headers["content-type"] == "application/pdf"
        assert content.response.headers["content-length"] == str(len(BINARY))
        plain = await call(c.files.content(made[0].id))
        assert plain.response.headers["content-type"].startswith("text/plain")
        odd = await call(c.files.create(file=("data.zzz-unknown", b"?"), purpose="assistants"))
        odd_type = (await call(c.files.content(odd.id))).response.headers["content-type"]
        assert odd_type == "application/octet-stream"
        raw = await call(c.files.with_raw_response.retrieve(made[0].id))
        assert list(raw.http_response.json()) == ["id", "object", "bytes", "created_at", "filename",
                                                  "purpose", "status", "expires_at", "status_details"]
        empty = await call(c.files.create(file=("empty.txt", b""), purpose="assistants"))
        assert empty.bytes == 0 and await read_content(c, empty.id) == b""
        # files.wait_for_processing returns at once: the file is processed when it is created
        assert (await call(c.files.wait_for_processing(made[0].id, poll_interval=60))).status == "processed"

    async def test_list_pages_in_both_orders_and_filters_by_purpose(self, files_client: Any) -> None:
        c = files_client
        made = []
        for i, purpose in enumerate(["assistants", "batch", "assistants", "vision", "assistants"]):
            made.append(await call(c.files.create(file=(f"f{i}.txt", b"x" * i), purpose=purpose)))
        page = await call(c.files.list())
        assert [f.id for f in page.data] == [f.id for f in reversed(made)] and page.has_more is False
        first = await call(c.files.list(limit=2, order="asc"))
        assert [f.id for f in first.data] == [made[0].id, made[1].id] and first.has_more is True
        assert first.data[0] == made[0]
        assert [f.id for f in await collect(c.files.list(limit=2, order="asc"))] == [f.id for f in made]
        mine = [f.id for f in made if f.purpose == "assistants"]
        assert [f.id for f in await collect(c.files.list(limit=1, purpose="assistants"))] == mine[::-1]
        after = await call(c.files.list(order="asc", after=made[0].id, purpose="assistants"))
        assert [f.id for f in after.data] == mine[1:]
        assert [f.id for f in (await call(c.files.list(purpose="batch"))).data] == [made[1].id]
        assert (await call(c.files.list(purpose="fine-tune"))).data == []
        # No `before` in OpenAI's files list: ignored, like any parameter it does not know.
        ignored = await call(c.files.list(order="asc", extra_query={"before": made[2].id}))
        assert [f.id for f in ignored.data] == [f.id for f in made]

    async def test_batch_files_expire_in_thirty_days_and_expires_after_is_kept(self, files_client: Any,
                                                                               ) -> None:
        c = files_client
        batch = await call(c.files.create(file=("b.jsonl", b"{}\n"), purpose="batch"))
        assert batch.expires_at == batch.created_at + 30 * 24 * 3600
        hour = await call(c.files.create(file=("h.txt", b"h"), purpose="assistants",
                                         expires_after={"anchor": "created_at", "seconds": 3600}))
        assert hour.expires_at == hour.created_at + 3600
        assert (await call(c.files.retrieve(hour.id))).expires_at == hour.expires_at

    async def test_delete_removes_the_file_its_bytes_and_every_reference(self, files_client: Any) -> None:
        c = files_client
        file = await call(c.files.create(file=("code.py", b"print(1)\n"), purpose="assistants"))
        kept = await call(c.files.create(file=("keep.csv", b"a,b\n"), purpose="assistants"))
        resources = {"code_interpreter": {"file_ids": [kept.id, file.id]}}
        assistant = await call(c.beta.assistants.create(model="m", tools=[{"type": "code_interpreter"}],
                                                        tool_resources=resources))
        thread = await call(c.beta.threads.create(tool_resources=resources))
        other = await call(c.beta.threads.create())
        await call(c.beta.threads.update(other.id,
                                         tool_resources={"code_interpreter": {"file_ids": [file.id]}}))
        deleted = await call(c.files.delete(file.id))
        assert (deleted.id, deleted.object, deleted.deleted) == (file.id, "file", True)
        for missing in (c.files.retrieve, c.files.content, c.files.delete):
            with pytest.raises(openai.NotFoundError):
                await call(missing(file.id))
        assert [f.id for f in (await call(c.files.list())).data] == [kept.id]
        got = await call(c.beta.assistants.retrieve(assistant.id))
        assert got.tool_resources.code_interpreter.file_ids == [kept.id]
        got = await call(c.beta.threads.retrieve(thread.id))
        assert got.tool_resources.code_interpreter.file_ids == [kept.id]
        assert (await call(c.beta.threads.retrieve(other.id))).tool_resources.code_interpreter.file_ids == []
        assert await read_content(c, kept.id) == b"a,b\n"

    async def test_files_errors_name_their_param(self, files_client: Any) -> None:
        c = files_client
        for request in (c.files.retrieve, c.files.content, c.files.delete):
            with pytest.raises(openai.NotFoundError) as info:
                await call(request("file-nope"))
            assert info.value.status_code == 404 and "file-nope" in error_of(info)["message"]
        with pytest.raises(openai.BadRequestError) as bad:
            await call(c.files.create(file=("a.txt", b"a"), purpose="assistants_output"))
        assert error_of(bad)["param"] == "purpose"
        with pytest.raises(openai.BadRequestError) as bad:
            await call(c.files.create(file=("a.txt", b"a"), purpose="nonsense"))
        assert error_of(bad)["param"] == "purpose"
        with pytest.raises(openai.BadRequestError) as bad:
            await call(c.files.list(purpose="nonsense"))
        assert error_of(bad)["param"] == "purpose"
        for seconds in (3599, 2_592_001):
            with pytest.raises(openai.BadRequestError) as bad:
                await call(c.files.create(file=("a.txt", b"a"), purpose="assistants",
                                          expires_after={"anchor": "created_at", "seconds": seconds}))
            assert error_of(bad)["param"] == "expires_after.seconds"
        with pytest.raises(openai.BadRequestError) as bad:
            await call(c.files.create(file=("a.txt", b"a"), purpose="assistants",
                                      expires_after={"anchor": "now", "seconds": 3600}))
        assert error_of(bad)["param"] == "expires_after.anchor"
        for limit in (0, 10_001):
            with pytest.raises(openai.BadRequestError) as bad:
                await call(c.files.list(limit=limit))
            assert error_of(bad)["param"] == "limit"
        with pytest.raises(openai.BadRequestError) as bad:
            await call(c.post("/files", cast_to=object, body={"purpose": "assistants"},
                              files=[("other", ("a.txt", b"a"))],
                              options={"headers": {"Content-Type": "multipart/form-data"}}))
        assert error_of(bad)["param"] == "file"
        with pytest.raises(openai.BadRequestError) as bad:
            await call(c.post("/files", cast_to=object, files=[("file", ("a.txt", b"a"))],
                              options={"headers": {"Content-Type": "multipart/form-data"}}))
        assert error_of(bad)["param"] == "purpose"
        assert (await call(c.files.list())).data == []  # nothing refused was stored

    # -- uploads -----------------------------------------------------------------------------------
    async def test_upload_in_parallel_parts_completes_in_the_order_named(self, files_client: Any) -> None:
        c = files_client
        chunks = [b"first|" * 1000, BINARY, b"|last"]
        whole = b"".join(chunks)
        upload = await call(c.uploads.create(bytes=len(whole), filename="joined.bin",
                                             mime_type="application/octet-stream", purpose="assistants",
                                             expires_after={"anchor": "created_at", "seconds": 7200}))
        assert (upload.object, upload.status, upload.file) == ("upload", "pending", None)
        assert upload.bytes == len(whole)
        assert upload.expires_at == upload.created_at + 3600 and upload.id.startswith("upload_")
        # sent last to first (in parallel on the async client): the order is part_ids'
        sends = [c.uploads.parts.create(upload.id, data=data) for data in reversed(chunks)]
        parts = list(reversed(await asyncio.gather(*map(call, sends))))
        for part in parts:
            assert part.object == "upload.part" and part.upload_id == upload.id
            assert part.id.startswith("part_")
            assert set(part.model_dump()) == {"id", "object", "created_at", "upload_id"}
        md5 = hashlib.md5(whole, usedforsecurity=False).hexdigest()
        with pytest.raises(openai.BadRequestError) as bad:
            await call(c.uploads.complete(upload.id, part_ids=[p.id for p in parts], md5="0" * 32))
        assert error_of(bad)["param"] == "md5"
        with pytest.raises(openai.BadRequestError) as bad:
            await call(c.uploads.complete(upload.id, part_ids=[parts[0].id, parts[1].id]))
        assert error_of(bad)["param"] == "part_ids"
        with pytest.raises(openai.BadRequestError) as bad:
            await call(c.uploads.complete(upload.id, part_ids=[parts[0].id, "part_nope", parts[2].id]))
        assert error_of(bad)["param"] == "part_ids[1]"
        assert (await call(c.files.list())).data == []  # the refused completes stored nothing
        done = await call(c.uploads.complete(upload.id, part_ids=[p.id for p in parts], md5=md5))
        assert done.status == "completed" and done.id == upload.id and done.file is not None
        assert (done.file.bytes, done.file.filename) == (len(whole), "joined.bin")
        assert done.file.purpose == "assistants" and done.file.expires_at == done.file.created_at + 7200
        assert await call(c.files.retrieve(done.file.id)) == done.file
        assert await read_content(c, done.file.id) == whole
        for late in (lambda: c.uploads.complete(upload.id, part_ids=[p.id for p in parts]),
                     lambda: c.uploads.parts.create(upload.id, data=b"more"),
                     lambda: c.uploads.cancel(upload.id)):
            with pytest.raises(openai.BadRequestError) as bad:
                await call(late())
            assert error_of(bad)["param"] == "upload_id" and "completed" in error_of(bad)["message"]

    async def test_cancel_and_expiry_end_an_upload(self, files_client: Any, monkeypatch: Any) -> None:
        from ..api import uploads

        c = files_client
        text = {"mime_type": "text/plain", "purpose": "batch"}
        upload = await call(c.uploads.create(bytes=4, filename="x.txt", **text))
        await call(c.uploads.parts.create(upload.id, data=b"ab"))
        with pytest.raises(openai.BadRequestError) as bad:  # more than the upload was created for
            await call(c.uploads.parts.create(upload.id, data=b"cde"))
        assert error_of(bad)["param"] == "data"
        cancelled = await call(c.uploads.cancel(upload.id))
        assert cancelled.status == "cancelled" and cancelled.file is None
        with pytest.raises(openai.BadRequestError) as bad:
            await call(c.uploads.parts.create(upload.id, data=b"cd"))
        assert "cancelled" in error_of(bad)["message"]
        monkeypatch.setattr(uploads, "UPLOAD_LIFETIME", 0)  # every new upload is past its hour at once
        stale = await call(c.uploads.create(bytes=1, filename="y.txt", **text))
        assert stale.status == "expired"
        with pytest.raises(openai.BadRequestError) as bad:
            await call(c.uploads.parts.create(stale.id, data=b"y"))
        assert "expired" in error_of(bad)["message"]
        with pytest.raises(openai.BadRequestError):
            await call(c.uploads.cancel(stale.id))
        assert (await call(c.files.list())).data == []

    async def test_uploads_errors_name_their_param(self, files_client: Any) -> None:
        c = files_client
        for request in (lambda: c.uploads.parts.create("upload_nope", data=b"x"),
                        lambda: c.uploads.cancel("upload_nope"),
                        lambda: c.uploads.complete("upload_nope", part_ids=["part_x"])):
            with pytest.raises(openai.NotFoundError) as info:
                await call(request())
            assert "upload_nope" in error_of(info)["message"]
        good = {"bytes": 1, "filename": "a.txt", "mime_type": "text/plain", "purpose": "assistants"}
        for changed, param in (({"bytes": 8 * 1024**3 + 1}, "bytes"), ({"bytes": -1}, "bytes"),
                               ({"purpose": "assistants_output"}, "purpose"), ({"purpose": "x"}, "purpose")):
            with pytest.raises(openai.BadRequestError) as bad:
                await call(c.uploads.create(**{**good, **changed}))
            assert error_of(bad)["param"] == param
        for missing in good:
            with pytest.raises(openai.BadRequestError) as bad:
                body = {k: v for k, v in good.items() if k != missing}
                await call(c.post("/uploads", cast_to=object, body=body))
            assert error_of(bad)["param"] == missing
            assert error_of(bad)["code"] == "missing_required_parameter"
        largest = await call(c.uploads.create(**{**good, "bytes": 8 * 1024**3}))
        assert largest.bytes == 8 * 1024**3
        try:
            await call(c.uploads.parts.create(largest.id, data=b"\0" * (MAX_UPLOAD_PART_BYTES + 1)))
        except openai.APIStatusError as e:
            assert e.status_code == 413 and error_of_exception(e)["code"] == "request_too_large"
        except openai.APIConnectionError:
            pass  # over HTTP the server may close the connection before the client has sent it all
        else:
            pytest.fail("a part over 64 MiB was taken")
        assert (await call(c.uploads.cancel(largest.id))).status == "cancelled"  # still pending

    async def test_a_large_file_sent_in_parts_by_upload_file_chunked(self, files_client: Any,
                                                                     tmp_path: pathlib.Path,
                                                                     chunked_upload_mib: int) -> None:
        c = files_client
        size = chunked_upload_mib * MIB + 12345  # a last part shorter than the others
        path = tmp_path / "large.bin"
        block = pattern(4 * MIB)
        digest = hashlib.sha256()
        with open(path, "wb") as out:
            for start in range(0, size, len(block)):
                data = block[:size - start]
                out.write(data)
                digest.update(data)
        part_size = 64 * MIB if chunked_upload_mib >= 64 else MIB
        upload = await call(c.uploads.upload_file_chunked(file=path, mime_type="application/octet-stream",
                                                          purpose="assistants", part_size=part_size))
        assert upload.status == "completed"
        assert (upload.file.bytes, upload.file.filename) == (size, "large.bin")
        assert await streamed_digest(c, upload.file.id) == (size, digest.hexdigest())
