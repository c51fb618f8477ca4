"""Files: the one place that stores a file (its bytes in the App's blob store under the file's id,
then its metadata in storage) and the one place that deletes one (its metadata, every reference to
it, its bytes). ``files.create``, ``uploads.complete`` and the outputs of built-in tools go through
here."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from . import ids
from .blobs import check_key
from .storage import Obj

if TYPE_CHECKING:
    from .app import App

# What a client may create a file (or an upload) for; a file read back may also have one of the
# purposes files made by the API have (code_interpreter outputs are ``assistants_output``).
CREATE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
OUTPUT_PURPOSES = ("assistants_output", "batch_output", "fine-tune-results")
PURPOSES = (*CREATE_PURPOSES, *OUTPUT_PURPOSES)
# ``expires_after[seconds]``: OpenAI's bounds; batch files expire after 30 days unless told otherwise.
MIN_EXPIRES_AFTER = 3600
MAX_EXPIRES_AFTER = 2_592_000
BATCH_EXPIRES_AFTER = 30 * 24 * 3600

FILE_FIELDS = ("id", "object", "bytes", "created_at", "filename", "purpose", "status", "expires_at",
               "status_details")


def new_file_id() -> str:
    """``file-…``, as OpenAI spells them (a dash, not an underscore); sorts in creation order."""
    return "file-" + ids.instant(ids.new_id("file"))


def is_file_id(value: str) -> bool:
    """Whether ``value`` could be a file's id: a blob key (:func:`supercompat.blobs.check_key`; file
    bytes are kept under the file's id) without the ``/`` that only other keys (upload parts) have.
    Anything else, such as ``../x`` from a client, names no file."""
    try:
        check_key(value)
    except ValueError:
        return False
    return "/" not in value


def usable(file: Obj | None, project: str | None, now: float) -> bool:
    """Whether ``project`` (None: in process) may use ``file`` (as ``storage.get_file`` returned it)
    at ``now``: it exists, is that project's and has not expired (``expires_at``)."""
    if file is None or file.get("project") != project:
        return False
    return file.get("expires_at") is None or now < file["expires_at"]


def public_file(file: Obj) -> Obj:
    """A stored file as the API shows it (``openai.types.FileObject``): never its project."""
    return {k: file.get(k) for k in FILE_FIELDS}


def content_type(filename: str) -> str:
    """The type a download is sent with: guessed from the file name, else ``application/octet-stream``."""
    return mimetypes.guess_type(filename, strict=False)[0] or "application/octet-stream"


def expires_at(created_at: int, purpose: str, expires_after_seconds: int | None) -> int | None:
    if expires_after_seconds is None and purpose == "batch":
        expires_after_seconds = BATCH_EXPIRES_AFTER
    return None if expires_after_seconds is None else created_at + expires_after_seconds


async def store_file(app: App, *, project: str | None, filename: str, purpose: str,
                     chunks: AsyncIterable[bytes], expires_after_seconds: int | None = None,
                     record: Callable[[Obj], Awaitable[Any]] | None = None) -> Obj:
    """Store a new file: the bytes ``chunks`` yields go to the blob store under the file's id, then
    its metadata to storage (``record(file)``; by default ``storage.create_file``). If either fails
    (``chunks`` raising included) neither is left. Returns the FileObject as the API shows it."""
    file_id = new_file_id()
    created_at = int(time.time())
    size = await app.blobs.put(file_id, chunks)
    file: Obj = {"id": file_id, "object": "file", "bytes": size, "created_at": created_at,
                 "filename": filename, "purpose": purpose, "status": "processed",
                 "expires_at": expires_at(created_at, purpose, expires_after_seconds), "status_details": None}
    if project is not None:
        file["project"] = project
    try:
        await (record or app.storage.create_file)(file)
    except BaseException:
        await app.blobs.delete(file_id)
        raise
    return public_file(file)


async def delete_file(app: App, file_id: str) -> bool:
    """Delete a file: its metadata, its id wherever it is referenced (the ``code_interpreter`` file
    ids of assistants and threads, the vector stores it is attached to, with its chunks), then its
    bytes. Whether there was one. Everything that must let
    go of a deleted file does it here."""
    if not await app.storage.delete_file(file_id):
        return False
    await app.storage.detach_file(file_id)
    await app.vector_stores.detach_everywhere(file_id)
    await app.blobs.delete(file_id)
    return True


__all__ = ["CREATE_PURPOSES", "PURPOSES", "content_type", "delete_file", "is_file_id", "new_file_id",
           "public_file", "store_file", "usable"]
