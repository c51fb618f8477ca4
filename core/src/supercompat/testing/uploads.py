"""Test routes for request and response bodies that are not JSON, on an App of their own (never on
the API's routes): the tests and ``bench/uploads.py`` drive them through the real openai SDK, in
process and over HTTP.

- ``POST /v1/test/upload`` takes a form (at most ``UPLOAD_LIMITS``) and answers what arrived: the
  fields (and ``expires_after`` as ``Form.nested`` reads it), and for each file its name, type,
  size, SHA-256 and the temporary file it was spooled to (gone once the answer is out), plus the
  ``include[]`` query array.
- ``GET /v1/test/download?size=N`` streams N bytes of ``pattern(N)`` (``&whole=1``: in one body),
  as ``application/pdf`` with a ``content-disposition`` naming ``report.pdf``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

from ..app import App
from ..forms import MIB, Multipart
from ..router import Request, Response

UPLOAD_LIMITS = Multipart(max_file_bytes=8 * MIB, max_files=2, max_field_bytes=1024)
DOWNLOAD_TYPE = "application/pdf"
DOWNLOAD_DISPOSITION = 'attachment; filename="report.pdf"'


def spool_directory(tmp_path: Any, monkeypatch: Any) -> Any:
    """Spool this test's uploads to a fresh ``tmp_path / "spool"`` (pytest's fixtures): a test can
    then check it is empty once every request is over. Returns the directory."""
    import tempfile

    directory = tmp_path / "spool"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def pattern(size: int) -> bytes:
    """``size`` bytes that are not all alike, so that a byte out of place changes the checksum."""
    block = bytes(range(256)) * 4096
    return (block * (size // len(block) + 1))[:size]


async def _upload(app: Any, request: Request) -> dict[str, Any]:
    form = request.form()
    files = []
    for uploads in form.files.values():
        for upload in uploads:
            digest = hashlib.sha256()
            for chunk in upload.chunks():
                digest.update(chunk)
            files.append({"name": upload.name, "filename": upload.filename, "content_type": upload.content_type,
                          "size": upload.size, "sha256": digest.hexdigest(), "spooled_to": upload.path})
    return {"fields": form.fields, "expires_after": form.nested("expires_after"), "files": files,
            "include": request.query_array("include")}


async def _download(app: Any, request: Request) -> Response:
    size = int(request.query.get("size", ["0"])[0])
    data = pattern(size)
    headers = [("content-disposition", DOWNLOAD_DISPOSITION)]
    if request.query.get("whole"):
        return Response.bytes(data, DOWNLOAD_TYPE, headers)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, size, 64 * 1024):
            yield data[start:start + 64 * 1024]

    return Response.byte_stream(chunks(), DOWNLOAD_TYPE, size, headers)


def upload_test_app(limits: Multipart = UPLOAD_LIMITS, **adapters: Any) -> App:
    """An App (memory storage unless ``adapters`` say otherwise) with the two test routes."""
    app = App(**adapters)
    app.add_route("POST", "/test/upload", _upload, body=limits)
    app.add_route("GET", "/test/download", _download)
    return app
