"""Bodies that are not JSON over HTTP, against a real uvicorn: forms streamed from the ASGI chunks into
spooled files within their route's limits, binary responses, query arrays (the in-process side is
core/tests/test_bodies.py)."""

from __future__ import annotations

import hashlib
import json
import socket
import time

import httpx2
import openai
import pytest
from openai._legacy_response import HttpxBinaryResponseContent

from supercompat.forms import MIB
from supercompat.testing.contract import call
from supercompat.testing.uploads import (
    DOWNLOAD_DISPOSITION,
    DOWNLOAD_TYPE,
    UPLOAD_LIMITS,
    pattern,
    spool_directory,
    upload_test_app,
)

from conftest import KEY, serving

FORM = {"headers": {"Content-Type": "multipart/form-data"}}
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server():
    with serving(upload_test_app(), api_keys=[KEY], body_timeout_seconds=2) as running:
        yield running


@pytest.fixture
def spool(tmp_path, monkeypatch):
    """The directory uploads are spooled to (the server runs in a thread of this process)."""
    return spool_directory(tmp_path, monkeypatch)


@pytest.fixture(params=["sync", "async"])
def sdk(request, server):
    return server.client(request.param)


def wait_until_empty(directory, seconds: float = 10.0) -> list:
    """What is left in ``directory`` once it is empty, or after ``seconds`` (a disconnect is seen by the
    server a moment after the client closes)."""
    deadline = time.monotonic() + seconds
    while list(directory.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return list(directory.iterdir())


async def test_a_form_arrives_intact_over_http(sdk, spool, tmp_path):
    size = 3 * MIB + 5
    path = tmp_path / "data.bin"
    path.write_bytes(pattern(size))
    with open(path, "rb") as f:
        echo = await call(sdk.post("/test/upload", cast_to=object, files={"file": ("data.bin", f, "image/png")},
                                   body={"purpose": "vision", "expires_after": {"anchor": "created_at", "seconds": 60}},
                                   options={**FORM, "params": {"include": ["x[*].y"]}}))
    assert echo["fields"] == {"purpose": ["vision"], "expires_after[anchor]": ["created_at"],
                              "expires_after[seconds]": ["60"]}
    assert echo["include"] == ["x[*].y"]
    [upload] = echo["files"]
    assert (upload["filename"], upload["content_type"], upload["size"]) == ("data.bin", "image/png", size)
    assert upload["sha256"] == hashlib.sha256(pattern(size)).hexdigest()
    assert upload["spooled_to"].startswith(str(spool))
    assert list(spool.iterdir()) == []
    if isinstance(sdk, openai.AsyncOpenAI):
        await sdk.close()


def test_a_declared_length_over_the_limit_is_refused_unread(server, spool):
    """413 on the headers, and the connection closed: the body is never waited for."""
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(f"POST /v1/test/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
                     f"Content-Type: multipart/form-data; boundary=b\r\n"
                     f"Content-Length: {UPLOAD_LIMITS.max_body_bytes + 1}\r\n\r\n".encode())
        answer = sock.makefile("rb").read()  # to the end: the server closes without reading the body
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"connection: close" in head.lower()
    assert b'"code":"request_too_large"' in body and b"x-request-id: req_" in head
    assert list(spool.iterdir()) == []


def test_a_streamed_file_over_the_limit_is_refused_and_read_no_further(server, spool):
    limit = UPLOAD_LIMITS.max_file_bytes
    offered = 8 * limit  # far past what socket buffers hold, however late a loaded server reacts
    sent = 0

    def body():  # chunked: no length declared, so the limit is found while reading
        nonlocal sent
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big"\r\n\r\n'
        for _ in range(offered // MIB):
            sent += MIB
            yield b"x" * MIB
        yield b"\r\n--b--\r\n"

    with httpx2.Client(headers=AUTH) as http:
        try:
            r = http.post(server.base_url + "/test/upload", content=body(),
                          headers={"Content-Type": "multipart/form-data; boundary=b"})
        except httpx2.TransportError:  # the server may close before the rest is sent
            r = None
    if r is not None:
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        assert r.headers["connection"] == "close"
    assert sent < offered  # the client was not made to send it all
    assert wait_until_empty(spool) == []


def test_malformed_and_mistyped_bodies_over_http(server, spool):
    with httpx2.Client(base_url=server.base_url, headers=AUTH) as http:
        r = http.post("/test/upload", content=b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--b',
                      headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_multipart"
        r = http.post("/test/upload", json={"purpose": "assistants"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_content_type"
        r = http.post("/test/upload", content=b"x" * MIB, headers={"Content-Type": "text/plain"})
        assert r.status_code == 400 and "only accepts 'multipart/form-data'" in r.json()["error"]["message"]
        assert r.headers["connection"] == "close"  # refused on its headers, the body unread
        r = http.post("/assistants", files={"file": ("a", b"a")})
        assert r.status_code == 400 and "only accepts 'application/json'" in r.json()["error"]["message"]
    assert list(spool.iterdir()) == []


@pytest.mark.parametrize("whole", [False, True], ids=["streamed", "whole"])
async def test_binary_responses_over_http(sdk, whole):
    size = 3 * MIB + 1
    params = {"size": size, **({"whole": 1} if whole else {})}
    content = await call(sdk.get("/test/download", cast_to=HttpxBinaryResponseContent, options={"params": params}))
    assert content.content == pattern(size)
    headers = content.response.headers
    assert headers["content-type"] == DOWNLOAD_TYPE and headers["content-disposition"] == DOWNLOAD_DISPOSITION
    assert headers["content-length"] == str(size) and "transfer-encoding" not in headers
    if isinstance(sdk, openai.AsyncOpenAI):
        await sdk.close()


def upload_head(port: int, length: int) -> bytes:
    return (f"POST /v1/test/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {length}\r\n\r\n"
            '--b\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n').encode()


def test_a_client_that_goes_away_mid_upload_leaves_no_file(server, spool):
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(upload_head(port, 6 * MIB) + b"x" * (2 * MIB))  # past the in-memory spool: on disk
        deadline = time.monotonic() + 10
        while not list(spool.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert list(spool.iterdir())  # spooling to disk while the body arrives
    assert wait_until_empty(spool) == []


def test_a_form_slower_than_the_body_timeout_is_a_408(server, spool):
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(upload_head(port, 6 * MIB) + b"x" * (2 * MIB))
        sock.settimeout(30)
        answer = sock.makefile("rb").read()  # body_timeout_seconds=2 ends it
    assert answer.startswith(b"HTTP/1.1 408") and b'"code":"request_timeout"' in answer
    assert wait_until_empty(spool) == []


def test_a_byte_stream_that_fails_is_cut_short(caplog):
    from supercompat import App
    from supercompat.router import Response

    async def broken(app, request):
        async def chunks():
            yield b"x" * 1000
            raise RuntimeError("the blob store went away")

        return Response.byte_stream(chunks(), length=5000)

    app = App()
    app.add_route("GET", "/broken", broken)
    with serving(app) as running, pytest.raises(openai.APIConnectionError):
        running.client().get("/broken", cast_to=HttpxBinaryResponseContent)
    assert "the blob store went away" in caplog.text


def test_max_request_bytes_stays_the_json_limit():
    """A form is bound by its route's limits, not by max_request_bytes, which still bounds JSON."""
    with serving(upload_test_app(), api_keys=[KEY], max_request_bytes=MIB) as running:
        client = running.client()
        echo = client.post("/test/upload", cast_to=object, options=FORM,
                           files={"file": ("big.bin", pattern(3 * MIB))})
        assert echo["files"][0]["size"] == 3 * MIB
        with pytest.raises(openai.APIStatusError) as refused:
            client.beta.assistants.create(model="m", instructions="x" * (2 * MIB))
        assert refused.value.status_code == 413
        assert refused.value.message.endswith(f"larger than this server accepts ({MIB} bytes).")


def trickled(parts: list[bytes], pause: float):
    """``parts`` sent one every ``pause`` seconds (chunked: no length declared)."""
    for part in parts:
        time.sleep(pause)
        yield part


def test_an_upload_that_keeps_coming_may_outlast_the_body_timeout(server, spool):
    """For a form, body_timeout_seconds (2 s here) bounds the wait for each chunk, not the whole body: an
    upload slow but steady (a chunk every 0.25 s for 3.5 s) arrives, however slow its link."""
    data = pattern(13 * 1000)
    parts = [b'--b\r\nContent-Disposition: form-data; name="file"; filename="slow.bin"\r\n\r\n',
             *(data[i:i + 1000] for i in range(0, len(data), 1000))]
    parts[-1] += b"\r\n--b--\r\n"
    with httpx2.Client(base_url=server.base_url, headers=AUTH, timeout=30) as http:
        r = http.post("/test/upload", content=trickled(parts, 0.25),
                      headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 200, r.text
    [upload] = r.json()["files"]
    assert (upload["size"], upload["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert list(spool.iterdir()) == []


def test_an_upload_that_stalls_is_a_408_however_long_it_kept_coming(server, spool):
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(upload_head(port, 6 * MIB))
        for _ in range(12):  # 3 s of a steady trickle, past the body timeout as a whole; then nothing
            time.sleep(0.25)
            sock.sendall(b"x" * 1000)
        sock.settimeout(30)
        answer = sock.makefile("rb").read()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
    assert json.loads(body)["error"] == {
        "message": "No part of the request body arrived for 2 seconds.", "type": "invalid_request_error",
        "param": None, "code": "request_timeout"}
    assert wait_until_empty(spool) == []


def test_a_chunked_body_without_a_type_is_judged_once_read(server):
    """No Content-Type and a chunked body (no length to say it is empty): an empty one needs no type, as
    in process; one that is not empty is refused as before, by the router once read."""
    with httpx2.Client(base_url=server.base_url, headers=AUTH) as http:
        created = http.post("/threads", content=iter([]))
        assert created.request.headers["transfer-encoding"] == "chunked"
        assert "content-type" not in created.request.headers
        assert created.status_code == 200 and created.json()["object"] == "thread"
        empty_form = http.post("/test/upload", content=iter([]))
        assert empty_form.json() == {"fields": {}, "expires_after": None, "files": [], "include": []}
        for path, wanted in (("/assistants", "application/json"), ("/test/upload", "multipart/form-data")):
            refused = http.post(path, content=iter([b'{"model": ', b'"m"}']))
            error = refused.json()["error"]
            assert refused.status_code == 400 and error["code"] == "unsupported_content_type"
            assert f"only accepts '{wanted}'" in error["message"]
        assert http.get("/assistants").json()["data"] == []
