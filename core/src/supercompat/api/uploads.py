"""Uploads: a large file sent in parts (each at most 64 MiB, in any order, in parallel), then
completed into a File with the parts in the order the client names. Each part's bytes go to the blob
store as they arrive (key ``<upload id>/<part id>``); completing streams them, in order, into the
new file's blob, and removes them. An upload expires an hour after it was created: touched after
that, it reads as ``expired``; its parts are removed when it is next touched, or by the sweep that
each new upload runs (``sweep_expired``), whichever comes first."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .. import files, ids
from ..blobs import BlobNotFound, reading
from ..errors import InvalidRequest, NotFound, ServerError
from ..forms import MAX_UPLOAD_PART_BYTES, Multipart
from ..router import Request, Router
from ..storage import Obj, StaleStatusError
from . import files as file_api
from . import params as p
from .ownership import of_project

if TYPE_CHECKING:
    from ..app import App

MAX_UPLOAD_BYTES = 8 * 1024**3  # 8 GiB (OpenAI: "8 GB")
UPLOAD_LIFETIME = 3600
PART_FORM = Multipart(max_file_bytes=MAX_UPLOAD_PART_BYTES, max_field_bytes=1024, max_parts=4)
UPLOAD_FIELDS = ("id", "object", "bytes", "created_at", "expires_at", "filename", "purpose", "status", "file")
PART_FIELDS = ("id", "object", "created_at", "upload_id")
_PENDING = frozenset({"pending"})
SWEEP_BATCH = 10  # expired uploads cleaned up on each new upload, at most


def part_key(upload_id: str, part_id: str) -> str:
    return f"{upload_id}/{part_id}"


def expired(upload: Obj, now: float | None = None) -> bool:
    return upload["status"] == "pending" and (now or time.time()) >= upload["expires_at"]


def public_upload(upload: Obj) -> Obj:
    """An upload as the API shows it (``openai.types.Upload``): a pending one past its time reads as
    ``expired``; the file it made as the files API shows it."""
    shown = {k: upload.get(k) for k in UPLOAD_FIELDS}
    if expired(upload):
        shown["status"] = "expired"
    if shown["file"] is not None:
        shown["file"] = files.public_file(shown["file"])
    return shown


async def get(app: App, upload_id: str, project: str | None) -> Obj:
    return of_project(await app.storage.get_upload(upload_id), project, "upload", upload_id,
                      missing=NotFound(f"No such Upload object: {upload_id}", param="upload_id"))


async def remove_parts(app: App, upload_id: str) -> None:
    """Delete the bytes of every part of the upload (its part records stay, small)."""
    for part in await app.storage.list_upload_parts(upload_id):
        await app.blobs.delete(part_key(upload_id, part["id"]))


async def expire(app: App, upload: Obj) -> Obj:
    """Mark a pending upload past its hour ``expired`` and remove its parts' bytes; the upload as
    it now is (another request may have ended it first)."""
    try:
        ended = await app.storage.update_upload(upload["id"], {"status": "expired"}, expected_status=_PENDING)
    except StaleStatusError as e:
        return e.current
    await remove_parts(app, upload["id"])
    return ended or upload


async def sweep_expired(app: App, limit: int = SWEEP_BATCH) -> None:
    """Expire up to ``limit`` uploads nobody touched again after their hour (run on each new upload,
    so abandoned parts don't outlive the next one by long)."""
    for upload in await app.storage.list_expired_uploads(time.time(), limit=limit):
        await expire(app, upload)


async def pending(app: App, req: Request) -> Obj:
    """The upload of the path if it can still change: else a 400 saying what it is. An upload found
    expired is marked so, and its parts removed."""
    upload = await get(app, req.params["upload_id"], req.project)
    if expired(upload):
        upload = await expire(app, upload)
    if upload["status"] != "pending":
        raise not_pending(upload)
    return upload


def not_pending(upload: Obj) -> InvalidRequest:
    return InvalidRequest(f"Upload {upload['id']} is {upload['status']}: it can't be changed any more.",
                          param="upload_id", code="invalid_upload_status")


async def create(app: App, req: Request) -> dict[str, Any]:
    body = req.json()
    p.check_known(body, ("bytes", "filename", "mime_type", "purpose", "expires_after"))
    size = p.integer(p.require(body, "bytes"), "bytes", minimum=0, maximum=MAX_UPLOAD_BYTES, nullable=False)
    filename = p.string(p.require(body, "filename"), "filename", max_len=file_api.MAX_FILENAME_LENGTH)
    p.string(p.require(body, "mime_type"), "mime_type", max_len=256)
    purpose = file_api.purpose(p.require(body, "purpose"))
    seconds = file_api.expires_after(body.get("expires_after"))
    now = int(time.time())
    upload: Obj = {"id": ids.new_id("upload"), "object": "upload", "bytes": size, "created_at": now,
                   "expires_at": now + UPLOAD_LIFETIME, "filename": filename, "purpose": purpose,
                   "status": "pending", "file": None}
    if seconds is not None:
        upload["file_expires_after"] = seconds
    p.stamp_project(upload, req)
    created = await app.storage.create_upload(upload)
    await sweep_expired(app)
    return public_upload(created)


async def add_part(app: App, req: Request) -> dict[str, Any]:
    upload = await pending(app, req)
    data = file_api.form_file(req.form(), "data")
    stored = sum(part.get("bytes", 0) for part in await app.storage.list_upload_parts(upload["id"]))
    if stored + data.size > upload["bytes"]:
        raise InvalidRequest(f"The parts of upload {upload['id']} would be {stored + data.size} bytes, "
                             f"more than the {upload['bytes']} bytes it was created for.", param="data",
                             code="upload_too_large")
    part: Obj = {"id": ids.new_id("part"), "object": "upload.part", "created_at": int(time.time()),
                 "upload_id": upload["id"]}
    key = part_key(upload["id"], part["id"])
    part["bytes"] = await app.blobs.put(key, file_api.upload_chunks(data))
    try:
        added = await app.storage.add_upload_part(part)
    except StaleStatusError as e:  # completed or cancelled while this part arrived
        await app.blobs.delete(key)
        raise not_pending(e.current) from None
    except BaseException:
        await app.blobs.delete(key)
        raise
    if added is None:
        await app.blobs.delete(key)
        raise NotFound(f"No such Upload object: {upload['id']}", param="upload_id")
    return {k: part[k] for k in PART_FIELDS}


async def complete(app: App, req: Request) -> dict[str, Any]:
    body = req.json()
    p.check_known(body, ("part_ids", "md5"))
    part_ids = p.array(p.require(body, "part_ids"), "part_ids")
    for i, part_id in enumerate(part_ids):
        p.string(part_id, f"part_ids[{i}]")
    md5 = p.string(body.get("md5"), "md5", nullable=True, max_len=64)
    upload = await pending(app, req)
    parts = {part["id"]: part for part in await app.storage.list_upload_parts(upload["id"])}
    seen: set[str] = set()
    for i, part_id in enumerate(part_ids):
        if part_id not in parts:
            raise InvalidRequest(f"Invalid 'part_ids[{i}]': upload {upload['id']} has no part '{part_id}'.",
                                 param=f"part_ids[{i}]", code="invalid_value")
        if part_id in seen:
            raise InvalidRequest(f"Invalid 'part_ids[{i}]': part '{part_id}' is named twice.",
                                 param=f"part_ids[{i}]", code="invalid_value")
        seen.add(part_id)
    total = sum(parts[part_id]["bytes"] for part_id in part_ids)
    if total != upload["bytes"]:
        raise InvalidRequest(f"The parts named add up to {total} bytes, but upload {upload['id']} was "
                             f"created for {upload['bytes']} bytes.", param="part_ids", code="invalid_value")

    async def concatenated() -> AsyncIterator[bytes]:
        digest = hashlib.md5(usedforsecurity=False)
        for part_id in part_ids:
            try:
                async with reading(app.blobs, part_key(upload["id"], part_id)) as chunks:
                    async for chunk in chunks:
                        digest.update(chunk)
                        yield chunk
            except BlobNotFound:  # removed by a cancel (or an expiry) that came first
                current = await app.storage.get_upload(upload["id"]) or upload
                if current["status"] != "pending":
                    raise not_pending(current) from None
                missing = f"The bytes of part {part_id} of upload {upload['id']} are missing."
                raise ServerError(missing) from None
        if md5 and digest.hexdigest() != md5.lower():
            raise InvalidRequest(f"Invalid 'md5': the parts' MD5 is {digest.hexdigest()}, not {md5}.",
                                 param="md5", code="invalid_value")

    completed: list[Obj] = []

    async def record(file: Obj) -> None:
        done = await app.storage.complete_upload(upload["id"], file)
        if done is None:
            raise NotFound(f"No such Upload object: {upload['id']}", param="upload_id")
        completed.append(done)

    try:
        await files.store_file(app, project=upload.get("project"), filename=upload["filename"],
                               purpose=upload["purpose"], chunks=concatenated(),
                               expires_after_seconds=upload.get("file_expires_after"), record=record)
    except StaleStatusError as e:  # cancelled or completed by another request meanwhile
        raise not_pending(e.current) from None
    await remove_parts(app, upload["id"])
    return public_upload(completed[0])


async def cancel(app: App, req: Request) -> dict[str, Any]:
    upload = await pending(app, req)
    try:
        cancelled = await app.storage.update_upload(upload["id"], {"status": "cancelled"},
                                                    expected_status=_PENDING)
    except StaleStatusError as e:
        raise not_pending(e.current) from None
    if cancelled is None:
        raise NotFound(f"No such Upload object: {upload['id']}", param="upload_id")
    await remove_parts(app, upload["id"])
    return public_upload(cancelled)


def register(router: Router) -> None:
    router.add("POST", "/uploads", create)
    router.add("POST", "/uploads/{upload_id}/parts", add_part, body=PART_FORM)
    router.add("POST", "/uploads/{upload_id}/complete", complete)
    router.add("POST", "/uploads/{upload_id}/cancel", cancel)
