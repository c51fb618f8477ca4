"""Messages of a thread: create, retrieve, update, delete, list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequest, NotFound
from ..router import Request, Router
from ..storage import ActiveRunError
from . import params as p
from . import references, resources
from .build import build_message
from .ownership import owned_item, owned_thread, thread_page

if TYPE_CHECKING:
    from ..app import App


def active_run_error(thread_id: str, run_id: str) -> InvalidRequest:
    return InvalidRequest(f"Can't add messages to {thread_id} while a run {run_id} is active.")


async def create(app: App, req: Request) -> dict[str, Any]:
    thread_id = req.params["thread_id"]
    message = build_message(req.json(), thread_id)
    thread = await owned_thread(app, req)
    files = await references.require_files(app, req.project, references.in_message(message))
    try:
        await resources.attach_to_thread(app, thread, [message], files)
        return await app.engine.past_orphans(thread_id, lambda: app.storage.create_message(message))
    except ActiveRunError as e:
        raise active_run_error(thread_id, e.run_id) from None


async def _get(app: App, thread_id: str, message_id: str) -> dict[str, Any]:
    """A message of a thread already checked with owned_thread()."""
    message = await app.storage.get_message(thread_id, message_id)
    if message is None:
        raise NotFound.object("message", message_id)
    return message


async def retrieve(app: App, req: Request) -> dict[str, Any]:
    thread_id, message_id = req.params["thread_id"], req.params["message_id"]
    message = await owned_item(app, req, await app.storage.get_message(thread_id, message_id))
    if message is None:
        raise NotFound.object("message", message_id)
    return message


async def update(app: App, req: Request) -> dict[str, Any]:
    body = req.json()
    p.check_known(body, ("metadata",))
    p.metadata(body.get("metadata"))
    thread_id, message_id = req.params["thread_id"], req.params["message_id"]
    await owned_thread(app, req)
    message = await _get(app, thread_id, message_id)
    if "metadata" not in body:
        return message
    changes = {"metadata": p.merged_metadata(message.get("metadata"), body["metadata"])}
    updated = await app.storage.update_message(thread_id, message_id, changes)
    if updated is None:
        raise NotFound.object("message", message_id)
    return updated


async def delete(app: App, req: Request) -> dict[str, Any]:
    thread_id, message_id = req.params["thread_id"], req.params["message_id"]
    await owned_thread(app, req)
    if not await app.storage.delete_message(thread_id, message_id):
        raise NotFound.object("message", message_id)
    return {"id": message_id, "object": "thread.message.deleted", "deleted": True}


async def list_(app: App, req: Request) -> dict[str, Any]:
    thread_id = req.params["thread_id"]
    query = p.list_query(req)
    run_id = p.query_id(req, "run_id")
    return await thread_page(app, req, await app.storage.list_messages(thread_id, query, run_id=run_id))


def register(router: Router) -> None:
    router.add("POST", "/threads/{thread_id}/messages", create)
    router.add("GET", "/threads/{thread_id}/messages", list_)
    router.add("GET", "/threads/{thread_id}/messages/{message_id}", retrieve)
    router.add("POST", "/threads/{thread_id}/messages/{message_id}", update)
    router.add("DELETE", "/threads/{thread_id}/messages/{message_id}", delete)
