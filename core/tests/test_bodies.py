"""Bodies that are not JSON, in process: forms streamed from the openai SDK into spooled files, their
limits and refusals, binary responses whole and streamed, query arrays. The same routes are driven
over HTTP in tests_server/test_bodies.py."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import os
import time
from typing import Any

import httpx2
import openai
import pytest
from openai._legacy_response import HttpxBinaryResponseContent

from supercompat import App, SupercompatTransport
from supercompat.forms import MIB, FormReader, Multipart, parse_form
from supercompat.router import Request, Response
from supercompat.testing.contract import call
from supercompat.testing.uploads import (
    DOWNLOAD_DISPOSITION,
    DOWNLOAD_TYPE,
    UPLOAD_LIMITS,
    pattern,
    spool_directory,
    upload_test_app,
)
from supercompat.transport import MAX_BACKLOG_BYTES

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it

FORM = {"headers": {"Content-Type": "multipart/form-data"}}


@pytest.fixture
def spool(tmp_path, monkeypatch):
    """The directory uploads are spooled to, for this test only: empty once every request is over."""
    return spool_directory(tmp_path, monkeypatch)


@pytest.fixture(params=["sync", "async"])
def sdk(request) -> Any:
    """An openai SDK client, sync or async, of an App with the test routes."""
    transport = SupercompatTransport(upload_test_app())
    if request.param == "sync":
        return openai.OpenAI(api_key="sk-test", base_url="http://test/v1", max_retries=0,
                             http_client=openai.DefaultHttpxClient(transport=transport))
    return openai.AsyncOpenAI(api_key="sk-test", base_url="http://test/v1", max_retries=0,
                              http_client=openai.DefaultAsyncHttpxClient(transport=transport))


def raw(app: App | None = None) -> httpx2.Client:
    return httpx2.Client(transport=SupercompatTransport(app or upload_test_app()), base_url="http://test/v1")


class CountingFile(io.FileIO):
    """A file on disk that counts the bytes read from it."""

    read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data


def write_file(directory, size: int):
    path = directory / "upload.bin"
    path.write_bytes(pattern(size))
    return path


async def test_a_form_arrives_intact_and_its_file_is_removed(sdk, spool, tmp_path):
    size = 3 * MIB + 17
    path = write_file(tmp_path, size)
    with open(path, "rb") as f:
        echo = await call(sdk.post("/test/upload", cast_to=object, files={"file": f}, options=FORM, body={
            "purpose": "assistants", "expires_after": {"anchor": "created_at", "seconds": 3600}}))
    assert echo["fields"] == {"purpose": ["assistants"], "expires_after[anchor]": ["created_at"],
                              "expires_after[seconds]": ["3600"]}
    assert echo["expires_after"] == {"anchor": "created_at", "seconds": "3600"}
    [upload] = echo["files"]
    assert upload == {"name": "file", "filename": "upload.bin", "content_type": "application/octet-stream",
                      "size": size, "sha256": hashlib.sha256(pattern(size)).hexdigest(),
                      "spooled_to": upload["spooled_to"]}
    assert os.path.dirname(upload["spooled_to"]) == str(spool)  # on disk while the handler ran...
    assert list(spool.iterdir()) == []  # ...and gone once it answered


async def test_a_small_file_stays_in_memory_with_its_own_type(sdk, spool):
    data = b"hello\r\n--not a boundary"
    echo = await call(sdk.post("/test/upload", cast_to=object, options=FORM,
                               files={"file": ("notes.txt", data, "text/plain")}))
    assert echo["files"] == [{"name": "file", "filename": "notes.txt", "content_type": "text/plain",
                              "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                              "spooled_to": None}]
    assert echo["fields"] == {} and list(spool.iterdir()) == []


async def test_query_arrays_as_the_sdk_sends_them(sdk):
    echo = await call(sdk.post("/test/upload", cast_to=object, options={**FORM, "params": {"include": ["a[*].b", "c"]}},
                         files={"file": ("x", b"x")}))
    assert echo["include"] == ["a[*].b", "c"]
    assert Request("GET", "/x", query_string="include=one").query_array("include") == ["one"]
    assert Request("GET", "/x", query_string="include%5B%5D=a&include%5B%5D=b").query_array("include") == ["a", "b"]
    assert Request("GET", "/x").query_array("include") == []


def test_the_steps_list_include_arrives_as_a_query_array():
    """What ``runs.steps.list(..., include=[...])`` sends is what query_array reads."""
    seen: list[Request] = []
    app = App()

    async def steps(app: Any, request: Request) -> dict[str, Any]:
        seen.append(request)
        return {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}

    app.add_route("GET", "/threads/{thread_id}/runs/{run_id}/steps", steps)
    client = openai.OpenAI(api_key="sk-test", base_url="http://test/v1", max_retries=0,
                           http_client=openai.DefaultHttpxClient(transport=SupercompatTransport(app)))
    include = "step_details.tool_calls[*].file_search.results[*].content"
    client.beta.threads.runs.steps.list("run_1", thread_id="thread_1", include=[include])
    assert seen[0].query_array("include") == [include]


async def test_a_file_over_the_limit_is_a_413_read_no_further(sdk, spool, tmp_path):
    limit = UPLOAD_LIMITS.max_file_bytes
    path = write_file(tmp_path, limit + 4 * MIB)  # the body is within the whole-body limit (two files)
    with CountingFile(path) as f, pytest.raises(openai.APIStatusError) as refused:
        await call(sdk.post("/test/upload", cast_to=object, files={"file": ("big.bin", f)}, options=FORM))
    assert refused.value.status_code == 413
    assert refused.value.body == {"message": f"The file in 'file' is larger than this endpoint accepts "
                                             f"({limit} bytes).",
                                  "type": "invalid_request_error", "param": None, "code": "request_too_large"}
    assert limit < f.read_bytes <= limit + MIB  # stopped within a chunk or so of the limit
    assert list(spool.iterdir()) == []


async def test_a_declared_length_over_the_limit_is_a_413_before_any_read(sdk, spool, tmp_path):
    path = write_file(tmp_path, UPLOAD_LIMITS.max_body_bytes + 1)
    with CountingFile(path) as f, pytest.raises(openai.APIStatusError) as refused:
        await call(sdk.post("/test/upload", cast_to=object, files={"file": ("big.bin", f)}, options=FORM))
    assert refused.value.status_code == 413 and refused.value.code == "request_too_large"
    assert f.read_bytes == 0


def test_fields_and_parts_have_limits_too(spool):
    http = raw()
    files = {"file": ("a", b"a")}
    r = http.post("/test/upload", data={"long": "x" * 1025}, files=files)
    assert r.status_code == 413 and r.json()["error"]["message"] == (
        "The field 'long' is larger than this endpoint accepts (1024 bytes).")
    r = http.post("/test/upload", files=[("f", ("a", b"a")), ("g", ("b", b"b")), ("h", ("c", b"c"))])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_multipart"
    assert "more than 2 file(s)" in r.json()["error"]["message"]
    assert list(spool.iterdir()) == []


MALFORMED = [
    ("multipart/form-data", b"--b\r\n\r\n", "the Content-Type header has no boundary"),
    ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--b',
     "it ends before its closing boundary"),
    ("multipart/form-data; boundary=b", b"--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--\r\n",
     "a part has no Content-Disposition: form-data with a name"),
    ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n--b--\r\n',
     "the field 'a' is not UTF-8"),
    ("multipart/form-data; boundary=b", b"not a form at all", None),
]


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(("kind", "body", "detail"), MALFORMED)
def test_a_malformed_form_is_a_400(spool, kind, body, detail, streamed):
    content = iter([body[:5], body[5:]]) if streamed else body  # an iterator is streamed by httpx2
    r = raw().post("/test/upload", content=content, headers={"content-type": kind})
    error = r.json()["error"]
    assert r.status_code == 400 and error["code"] == "invalid_multipart" and error["type"] == "invalid_request_error"
    assert error["message"].startswith("The multipart/form-data body of your request could not be parsed: ")
    if detail is not None:
        assert error["message"].endswith(detail + ".")
    assert list(spool.iterdir()) == []


async def test_each_route_takes_its_own_type_only(sdk):
    with pytest.raises(openai.BadRequestError) as refused:
        await call(sdk.post("/test/upload", cast_to=object, body={"purpose": "assistants"}))
    assert refused.value.code == "unsupported_content_type"
    assert "only accepts 'multipart/form-data' requests" in refused.value.message
    with pytest.raises(openai.BadRequestError) as refused:
        await call(sdk.post("/assistants", cast_to=object, body={"model": "m"}, files={"file": ("a", b"a")},
                            options=FORM))
    assert refused.value.code == "unsupported_content_type"
    assert "only accepts 'application/json' requests" in refused.value.message
    # a form sent whole (not streamed) is parsed by the router; no body is an empty form
    whole = raw().post("/test/upload", content=b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--b--\r\n',
                       headers={"content-type": "multipart/form-data; boundary=b"})
    assert whole.json()["fields"] == {"a": ["v"]}
    assert raw().post("/test/upload").json() == {"fields": {}, "expires_after": None, "files": [], "include": []}


def test_test_routes_stay_on_their_app():
    assert upload_test_app().router.body_of("POST", "/v1/test/upload") == UPLOAD_LIMITS
    plain = App()
    assert plain.router.body_of("POST", "/v1/test/upload") is None
    assert raw(plain).post("/test/upload").status_code == 404


@pytest.mark.parametrize("whole", [False, True], ids=["streamed", "whole"])
async def test_binary_responses(sdk, whole):
    size = 2 * MIB + 3
    params = {"size": size, **({"whole": 1} if whole else {})}
    content = await call(sdk.get("/test/download", cast_to=HttpxBinaryResponseContent, options={"params": params}))
    assert content.content == pattern(size)
    headers = content.response.headers
    assert headers["content-type"] == DOWNLOAD_TYPE and headers["content-disposition"] == DOWNLOAD_DISPOSITION
    assert headers["content-length"] == str(size) and headers["x-request-id"].startswith("req_")


def test_a_form_parsed_whole_keeps_the_limits():
    limits = Multipart(max_file_bytes=10, max_files=1, max_fields_bytes=10)
    body = b'--b\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n' + b"x" * 11 + b"\r\n--b--\r\n"
    with pytest.raises(Exception) as refused:
        parse_form(body, "multipart/form-data; boundary=b", limits)
    assert refused.value.status == 413


def counted_download_app(total: int, produced: list[int]) -> App:
    """``GET /download``: ``total`` bytes streamed in chunks of 64 KiB, counting what was produced."""
    app = App()

    async def download(app: Any, request: Request) -> Response:
        async def chunks():
            for _ in range(total // (64 * 1024)):
                produced[0] += 64 * 1024
                yield b"x" * (64 * 1024)

        return Response.byte_stream(chunks(), length=total)

    app.add_route("GET", "/download", download)
    return app


def wait_for_producer(produced: list[int], total: int) -> int:
    """What the producer has made once it stops (or has made everything): it must stop at the backlog."""
    deadline = time.monotonic() + 2
    while produced[0] < total and time.monotonic() < deadline:
        time.sleep(0.01)
    return produced[0]


def test_a_slow_reader_holds_back_a_streamed_body():
    """A large download read slowly is never queued whole in process: the producer waits for the reader."""
    total, produced = 64 * MIB, [0]
    http = httpx2.Client(transport=SupercompatTransport(counted_download_app(total, produced)), base_url="http://t/v1")
    with http.stream("GET", "/download") as response:
        chunks = response.iter_raw()
        next(chunks)
        assert wait_for_producer(produced, total) <= MAX_BACKLOG_BYTES + 128 * 1024
        assert sum(map(len, chunks)) + 64 * 1024 == total  # and the rest comes as it is read


async def test_a_slow_async_reader_holds_back_a_streamed_body():
    total, produced = 64 * MIB, [0]
    transport = SupercompatTransport(counted_download_app(total, produced))
    async with httpx2.AsyncClient(transport=transport, base_url="http://t/v1") as http:
        async with http.stream("GET", "/download") as response:
            chunks = response.aiter_raw()
            await chunks.__anext__()
            assert await asyncio.to_thread(wait_for_producer, produced, total) <= MAX_BACKLOG_BYTES + 128 * 1024
            rest = 0
            async for chunk in chunks:
                rest += len(chunk)
            assert rest + 64 * 1024 == total


def broken_download_app() -> App:
    """``GET /broken``: a byte stream that fails after its first chunk (a blob store going away)."""
    app = App()

    async def broken(app: Any, request: Request) -> Response:
        async def chunks():
            yield b"x" * 1000
            raise RuntimeError("the blob store went away")

        return Response.byte_stream(chunks(), length=5000)

    app.add_route("GET", "/broken", broken)
    return app


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_byte_stream_that_fails_is_a_connection_error(kind, caplog):
    transport = SupercompatTransport(broken_download_app())
    if kind == "sync":
        client: Any = openai.OpenAI(api_key="sk-test", base_url="http://test/v1", max_retries=0,
                                    http_client=openai.DefaultHttpxClient(transport=transport))
    else:
        client = openai.AsyncOpenAI(api_key="sk-test", base_url="http://test/v1", max_retries=0,
                                    http_client=openai.DefaultAsyncHttpxClient(transport=transport))
    with pytest.raises(openai.APIConnectionError):
        await call(client.get("/broken", cast_to=HttpxBinaryResponseContent))
    assert "the blob store went away" in caplog.text


def test_a_form_streamed_to_a_json_route_is_refused_unread():
    """In process too, a streamed body of a type its route doesn't take is never read."""
    read = [0]

    def body():
        read[0] += 1
        yield b"--b--\r\n"

    r = raw().post("/assistants", content=body(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_content_type"
    assert read == [0]


def form_body(data: bytes) -> bytes:
    return (b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="r\xc3\xa9sum\xc3\xa9.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n" + data + b"\r\n--b--\r\n")


@pytest.mark.parametrize("size", [1000, 3 * MIB], ids=["in memory", "on disk"])
def test_an_uploaded_file_can_be_read_streamed_and_moved(spool, tmp_path, size):
    data = pattern(size)
    body = form_body(data)
    reader = FormReader("multipart/form-data; boundary=b", Multipart(max_file_bytes=4 * MIB))
    for start in range(0, len(body), 7000):  # chunk edges anywhere, boundaries split across them
        reader.feed(body[start:start + 7000])
    form = reader.finish()
    assert form.get("purpose") == "assistants" and form.getlist("purpose") == ["assistants"]
    upload = form.file("file")
    assert (upload.name, upload.filename, upload.content_type, upload.size) == (
        "file", "résumé.pdf", "application/pdf", size)
    assert (upload.path is not None) == (size > 1 * MIB)
    assert upload.read() == data and b"".join(upload.chunks(4096)) == data and upload.file().read() == data
    destination = tmp_path / "kept.pdf"
    upload.move_to(destination)
    assert destination.read_bytes() == data
    form.close()
    assert list(spool.iterdir()) == [] and destination.read_bytes() == data  # what was moved is kept


def test_a_reader_left_half_way_removes_its_file(spool):
    reader = FormReader("multipart/form-data; boundary=b", Multipart())
    reader.feed(form_body(pattern(3 * MIB))[:2 * MIB])
    assert len(list(spool.iterdir())) == 1
    reader.discard()  # the client went away
    assert list(spool.iterdir()) == []


def failing_after(first: bytes):
    """Chunks that fail after ``first``, as a client's file read can (a sync iterator)."""
    yield first
    raise OSError("the client's file went away")


async def failing_after_async(first: bytes):
    yield first
    raise OSError("the client's file went away")


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_reading_a_form_removes_what_was_spooled_when_its_chunks_fail(spool, kind):
    reader = FormReader("multipart/form-data; boundary=b", Multipart())
    first = form_body(pattern(3 * MIB))[:2 * MIB]  # on disk by then
    with pytest.raises(OSError, match="went away"):
        if kind == "sync":
            reader.read(failing_after(first))
        else:
            await reader.aread(failing_after_async(first))
    assert list(spool.iterdir()) == []


class FillingDisk(io.FileIO):
    """A temporary file on a disk that fills up after ``room`` writes: the next write fails, and so does
    the flush on close (after closing the file, as a buffered writer's close does)."""

    def __init__(self, fd: int, room: int) -> None:
        super().__init__(fd, "r+")
        self.room = room

    def write(self, data) -> int:
        if self.room == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= 1
        return super().write(data)

    def close(self) -> None:
        full = not self.closed and self.room == 0
        super().close()
        if full:
            raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("room", [0, 1], ids=["full when spooling to disk", "full once on disk"])
def test_a_spool_the_disk_cannot_take_leaves_neither_file_nor_handle(spool, monkeypatch, room):
    opened: list[FillingDisk] = []

    def fdopen(fd, *args, **kwargs):
        opened.append(FillingDisk(fd, room))
        return opened[-1]

    monkeypatch.setattr(os, "fdopen", fdopen)
    reader = FormReader("multipart/form-data; boundary=b", Multipart())
    with pytest.raises(OSError) as failed:
        reader.read([form_body(pattern(3 * MIB))[:2 * MIB]])  # past the in-memory spool: to disk
    assert failed.value.errno == errno.ENOSPC
    assert [f.closed for f in opened] == [True]  # the file handle is released...
    assert list(spool.iterdir()) == []  # ...and the file removed


def test_a_moved_file_is_no_longer_ours_to_remove(spool, tmp_path):
    reader = FormReader("multipart/form-data; boundary=b", Multipart(max_file_bytes=4 * MIB))
    form = reader.read([form_body(pattern(3 * MIB))])
    upload = form.file("file")
    spooled = upload.path
    upload.move_to(tmp_path / "kept.pdf")
    assert upload.path is None and upload.read() == pattern(3 * MIB)  # still readable until the request ends
    with open(spooled, "wb") as other:  # the name taken again (another upload's spool, say)
        other.write(b"not ours")
    form.close()
    assert (tmp_path / "kept.pdf").read_bytes() == pattern(3 * MIB)
    with open(spooled, "rb") as other:
        assert other.read() == b"not ours"


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_streamed_body_without_a_type_is_judged_once_read(kind):
    """No Content-Type and a streamed body (no length to say it is empty): an empty one needs no type,
    as when sent whole; one that is not empty is refused as before, once read, and nothing is created."""
    transport = SupercompatTransport(upload_test_app())

    def chunks(*parts: bytes):
        yield from parts

    async def achunks(*parts: bytes):
        for part in parts:
            yield part

    async def post(path: str, *parts: bytes) -> httpx2.Response:
        if kind == "sync":
            with httpx2.Client(transport=transport, base_url="http://test/v1") as http:
                return http.post(path, content=chunks(*parts))
        async with httpx2.AsyncClient(transport=transport, base_url="http://test/v1") as http:
            return await http.post(path, content=achunks(*parts))

    created = await post("/threads")
    assert created.status_code == 200 and created.json()["object"] == "thread"
    empty_form = await post("/test/upload")
    assert empty_form.json() == {"fields": {}, "expires_after": None, "files": [], "include": []}
    refused = await post("/assistants", b'{"model": ', b'"m"}')
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "unsupported_content_type"
    assert "only accepts 'application/json'" in refused.json()["error"]["message"]
    with httpx2.Client(transport=transport, base_url="http://test/v1") as http:
        assert http.get("/assistants").json()["data"] == []
