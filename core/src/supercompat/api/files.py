"""Files: create (multipart), list, retrieve, delete, content. A file belongs to the project of the
API key that created it; another project's reads as missing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .. import files
from ..errors import InvalidRequest, NotFound
from ..forms import MAX_FILE_BYTES, MIB, Form, Multipart, UploadedFile
from ..router import Request, Response, Router
from ..storage import ListQuery, Obj
from . import params as p
from .ownership import of_project

if TYPE_CHECKING:
    from ..app import App

FILE_FORM = Multipart(max_file_bytes=MAX_FILE_BYTES, max_field_bytes=4096, max_parts=10)
MAX_LIST_LIMIT = 10_000
MAX_FILENAME_LENGTH = 1024


def not_found(file_id: str) -> NotFound:
    return NotFound(f"No such File object: {file_id}", param="id")


async def get(app: App, file_id: str, project: str | None) -> Obj:
    """The stored file, if it belongs to ``project``."""
    return of_project(await app.storage.get_file(file_id), project, "file", file_id, missing=not_found(file_id))


def purpose(value: Any, param: str = "purpose", *, choices: tuple[str, ...] = files.CREATE_PURPOSES) -> str:
    return p.string(value, param, choices=choices)


def expires_after(value: Any, param: str = "expires_after") -> int | None:
    """``expires_after`` (``{"anchor": "created_at", "seconds": N}``, from JSON or a form's text
    fields) -> its seconds; None when not given."""
    if value is None:
        return None
    p.obj(value, param)
    p.check_known(value, ("anchor", "seconds"), f"{param}.")
    p.string(p.require(value, "anchor", f"{param}."), f"{param}.anchor", choices=("created_at",))
    seconds = p.require(value, "seconds", f"{param}.")
    if isinstance(seconds, str):
        try:
            seconds = int(seconds)
        except ValueError:
            raise p.invalid_type(f"{param}.seconds", "an integer", seconds) from None
    return p.integer(seconds, f"{param}.seconds", minimum=files.MIN_EXPIRES_AFTER,
                     maximum=files.MAX_EXPIRES_AFTER, nullable=False)


async def upload_chunks(upload: UploadedFile) -> AsyncIterator[bytes]:
    """A form's file, a MiB at a time; read in a worker thread once it is spooled to disk, so that a
    large file never blocks the loop."""
    source = upload.file()
    while True:
        chunk = await asyncio.to_thread(source.read, MIB) if upload.path else source.read(MIB)
        if not chunk:
            return
        yield chunk


def form_file(form: Form, name: str) -> UploadedFile:
    upload = form.file(name)
    if upload is None:
        raise InvalidRequest(f"Missing required parameter: '{name}'.", param=name,
                             code="missing_required_parameter")
    return upload


async def create(app: App, req: Request) -> dict[str, Any]:
    form = req.form()
    upload = form_file(form, "file")
    if form.get("purpose") is None:
        raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose",
                             code="missing_required_parameter")
    chosen = purpose(form.get("purpose"))
    if len(upload.filename) > MAX_FILENAME_LENGTH:  # every storage keeps it whole
        raise p.invalid_value("file", f"the file name is longer than {MAX_FILENAME_LENGTH} characters.")
    seconds = expires_after(form.nested("expires_after"))
    return await files.store_file(app, project=req.project, filename=upload.filename or "file",
                                  purpose=chosen, chunks=upload_chunks(upload), expires_after_seconds=seconds)


async def retrieve(app: App, req: Request) -> dict[str, Any]:
    return files.public_file(await get(app, req.params["file_id"], req.project))


async def delete(app: App, req: Request) -> dict[str, Any]:
    file_id = req.params["file_id"]
    await get(app, file_id, req.project)
    if not await files.delete_file(app, file_id):
        raise not_found(file_id)
    return {"id": file_id, "object": "file", "deleted": True}


async def content(app: App, req: Request) -> Response:
    """The file's bytes as stored, streamed from the blob store. Every purpose may be downloaded."""
    file = await get(app, req.params["file_id"], req.project)
    size = await app.blobs.size(file["id"])
    if size is None:  # its bytes are gone (deleted meanwhile): as missing as the file
        raise not_found(file["id"])
    disposition = f"attachment; filename*=UTF-8''{quote(file['filename'], safe='')}"
    return Response.byte_stream(app.blobs.read(file["id"]), files.content_type(file["filename"]), size,
                                [("content-disposition", disposition)])


def list_query(req: Request) -> ListQuery:
    """``limit`` 1..10,000 (default 10,000), ``order`` (default desc), ``after``. OpenAI's files list
    has no ``before``: like any parameter it doesn't know, it is ignored."""
    q = req.query
    limit = MAX_LIST_LIMIT
    if "limit" in q:
        raw = q["limit"][-1]
        try:
            limit = int(raw)
        except ValueError:
            raise p.invalid_type("limit", "an integer", raw) from None
        p.integer(limit, "limit", minimum=1, maximum=MAX_LIST_LIMIT)
    order = p.string(q["order"][-1], "order", choices=("asc", "desc")) if "order" in q else "desc"
    return ListQuery(limit=limit, order=order, after=p.query_id(req, "after"))  # type: ignore[arg-type]


async def list_(app: App, req: Request) -> dict[str, Any]:
    query = list_query(req)
    wanted = req.query.get("purpose", [""])[-1] or None
    if wanted is not None:
        purpose(wanted, choices=files.PURPOSES)
    page = await app.storage.list_files(query, project=req.project, purpose=wanted)
    page.data = [files.public_file(f) for f in page.data]
    return p.list_body(page)


def register(router: Router) -> None:
    router.add("POST", "/files", create, body=FILE_FORM)
    router.add("GET", "/files", list_)
    router.add("GET", "/files/{file_id}", retrieve)
    router.add("DELETE", "/files/{file_id}", delete)
    router.add("GET", "/files/{file_id}/content", content)
