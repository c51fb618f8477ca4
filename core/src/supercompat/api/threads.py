from __future__ import annotations

import time
from typing import Any

from .. import ids
from ..errors import NotFound
from ..router import Router
from . import params as p


async def get_thread(app: Any, thread_id: str, project: str | None) -> dict[str, Any]:
    """The thread, if it belongs to ``project``; another project's is as unknown as a missing one."""
    thread = await app.storage.get_thread(thread_id)
    if thread is None or thread.get("project") != project:
        raise NotFound.object("thread", thread_id)
    return thread


async def owned_thread(app: Any, req: Any) -> dict[str, Any]:
    """The thread of a request under ``/threads/{thread_id}``: everything there checks it first."""
    return await get_thread(app, req.params["thread_id"], req.project)


async def owned_item(app: Any, req: Any, item: dict[str, Any] | None) -> dict[str, Any] | None:
    """``item`` (a message, run or step read by the ids in the path), checked as ``owned_thread``
    would check its thread: an item proves its thread exists, so only a missing item (a missing
    thread is its own 404) or a scoped key that must own the thread reads it."""
    if item is None or req.project is not None:
        await owned_thread(app, req)
    return item


async def thread_page(app: Any, req: Any, page: Any) -> dict[str, Any]:
    """The list body of a page of a thread's items. Items prove their thread exists (an empty page may
    be a missing thread), so only an empty page, or a scoped key that must own the thread, reads it."""
    if not page.data or req.project is not None:
        await owned_thread(app, req)
    return p.list_body(page)


def build_thread(body: Any, param: str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Validate a thread-create body (also ``thread`` of create_and_run): the thread and its messages."""
    from .messages import build_message

    p.obj(body, param.rstrip(".") or "body")
    p.check_known(body, ("messages", "metadata", "tool_resources"), param)
    thread_id = ids.new_id("thread")
    now = int(time.time())
    raw_messages = body.get("messages") or []
    p.array(raw_messages, f"{param}messages", max_items=32)
    messages = [build_message(m, thread_id, f"{param}messages[{i}].", created_at=now)
                for i, m in enumerate(raw_messages)]
    thread = {
        "id": thread_id, "object": "thread", "created_at": now,
        "metadata": p.metadata(body.get("metadata"), f"{param}metadata") or {},
        "tool_resources": p.tool_resources(body.get("tool_resources"), f"{param}tool_resources") or {},
    }
    return thread, messages


async def create(app: Any, req: Any) -> dict[str, Any]:
    thread, messages = build_thread(req.json())
    p.stamp_project(thread, req)
    return p.public(await app.storage.create_thread(thread, messages))


async def retrieve(app: Any, req: Any) -> dict[str, Any]:
    return p.public(await owned_thread(app, req))


async def update(app: Any, req: Any) -> dict[str, Any]:
    body = req.json()
    p.check_known(body, ("metadata", "tool_resources"))
    p.metadata(body.get("metadata"))
    changes: dict[str, Any] = {}
    if "tool_resources" in body:
        changes["tool_resources"] = p.tool_resources(body["tool_resources"], vector_stores=False) or {}
    thread = await owned_thread(app, req)
    if "metadata" in body:
        changes["metadata"] = p.merged_metadata(thread.get("metadata"), body["metadata"])
    if not changes:
        return p.public(thread)
    updated = await app.storage.update_thread(thread["id"], changes)
    if updated is None:
        raise NotFound.object("thread", thread["id"])
    return p.public(updated)


async def delete(app: Any, req: Any) -> dict[str, Any]:
    thread_id = (await owned_thread(app, req))["id"]
    active = await app.storage.get_active_run(thread_id)
    if not await app.storage.delete_thread(thread_id):
        raise NotFound.object("thread", thread_id)
    if active is not None:
        app.engine.cancel_execution(active["id"])  # nothing left to answer into
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}


def register(router: Router) -> None:
    router.add("POST", "/threads", create)
    router.add("GET", "/threads/{thread_id}", retrieve)
    router.add("POST", "/threads/{thread_id}", update)
    router.add("DELETE", "/threads/{thread_id}", delete)
