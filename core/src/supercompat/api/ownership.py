"""Who may see what under ``/threads/{thread_id}``: a thread, and the items read by the ids in the
path, belong to the project of the API key that created the thread (None in process). Shared by the
threads, messages and runs endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import APIError, NotFound
from ..router import Request
from . import params as p

if TYPE_CHECKING:
    from ..app import App
    from ..storage import Page


def of_project(obj: dict[str, Any] | None, project: str | None, kind: str, oid: str, *,
               missing: APIError | None = None) -> dict[str, Any]:
    """``obj`` (an assistant, a thread, a file, an upload) if it belongs to ``project``; another
    project's is as unknown as a missing one: ``missing``, by default a 404 naming ``kind``."""
    if obj is None or obj.get("project") != project:
        raise missing or NotFound.object(kind, oid)
    return obj


async def get_thread(app: App, thread_id: str, project: str | None) -> dict[str, Any]:
    """The thread, if it belongs to ``project``."""
    return of_project(await app.storage.get_thread(thread_id), project, "thread", thread_id)


async def owned_thread(app: App, req: Request) -> dict[str, Any]:
    """The thread of a request under ``/threads/{thread_id}``: everything there checks it first."""
    return await get_thread(app, req.params["thread_id"], req.project)


ItemT = TypeVar("ItemT", bound="dict[str, Any] | None")


async def owned_item(app: App, req: Request, item: ItemT) -> ItemT:
    """``item`` (a message, run or step read by the ids in the path), checked as ``owned_thread``
    would check its thread: an item proves its thread exists, so only a missing item (a missing
    thread is its own 404) or a scoped key that must own the thread reads it."""
    if item is None or req.project is not None:
        await owned_thread(app, req)
    return item


async def thread_page(app: App, req: Request, page: Page) -> dict[str, Any]:
    """The list body of a page of a thread's items. Items prove their thread exists (an empty page may
    be a missing thread), so only an empty page, or a scoped key that must own the thread, reads it."""
    if not page.data or req.project is not None:
        await owned_thread(app, req)
    return p.list_body(page)
