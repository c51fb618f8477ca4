"""Files a request names by id must exist, be unexpired and belong to the caller's project: a message's
``image_file`` parts and ``attachments``, and ``tool_resources`` (code_interpreter's ``file_ids``, the
``file_ids`` of vector stores created on the way). One that doesn't is a 400 naming the param, found
before anything is stored, so a bad id is never kept to fail a run later."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequest
from ..files import usable

if TYPE_CHECKING:
    from ..app import App

Reference = tuple[str, str]  # (file id, the param that names it)


def in_message(message: dict[str, Any], param: str = "") -> Iterator[Reference]:
    """The files a built message names (``param`` prefixes the params, e.g. ``messages[0].``)."""
    for i, part in enumerate(message.get("content") or []):
        if part.get("type") == "image_file":
            yield part["image_file"]["file_id"], f"{param}content[{i}].image_file.file_id"
    for i, attachment in enumerate(message.get("attachments") or []):
        if "file_id" in attachment:
            yield attachment["file_id"], f"{param}attachments[{i}].file_id"


def in_messages(messages: Iterable[dict[str, Any]], param: str) -> Iterator[Reference]:
    """``param``: the list's own, e.g. ``thread.messages``."""
    for i, message in enumerate(messages):
        yield from in_message(message, f"{param}[{i}].")


def in_tool_resources(resources: dict[str, Any] | None, param: str = "tool_resources") -> Iterator[Reference]:
    resources = resources or {}
    for i, file_id in enumerate((resources.get("code_interpreter") or {}).get("file_ids") or []):
        yield file_id, f"{param}.code_interpreter.file_ids[{i}]"
    for i, store in enumerate((resources.get("file_search") or {}).get("vector_stores") or []):
        for j, file_id in enumerate(store.get("file_ids") or []):
            yield file_id, f"{param}.file_search.vector_stores[{i}].file_ids[{j}]"


async def require_files(app: App, project: str | None, references: Iterable[Reference]) -> dict[str, Any]:
    """Raise InvalidRequest for the first reference to a file that is missing, expired or another
    project's (as unknown as a missing one); each file is read once. Returns the files read, by id."""
    checked: dict[str, Any] = {}
    now = time.time()
    for file_id, param in references:
        if file_id in checked:
            continue
        file = await app.storage.get_file(file_id)
        if not usable(file, project, now):
            raise InvalidRequest(f"No file found with id '{file_id}'.", param=param, code="invalid_value")
        checked[file_id] = file
    return checked
