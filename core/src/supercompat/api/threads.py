"""Threads: create, retrieve, update, delete, and list (a supercompat extension)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from ..errors import NotFound
from ..router import Request, Router
from . import params as p
from . import references, resources
from .build import build_thread
from .ownership import owned_thread

if TYPE_CHECKING:
    from ..app import App


async def create(app: App, req: Request) -> dict[str, Any]:
    thread, messages = build_thread(req.json())
    p.stamp_project(thread, req)
    files = await references.require_files(app, req.project, itertools.chain(
        references.in_messages(messages, "messages"), references.in_tool_resources(thread["tool_resources"])))
    thread["tool_resources"] = await resources.for_new_thread(app, req.project, thread["tool_resources"],
                                                              messages, files)
    return p.public(await app.storage.create_thread(thread, messages))


async def retrieve(app: App, req: Request) -> dict[str, Any]:
    return p.public(await owned_thread(app, req))


async def update(app: App, req: Request) -> dict[str, Any]:
    body = req.json()
    p.check_known(body, ("metadata", "tool_resources"))
    p.metadata(body.get("metadata"))
    changes: dict[str, Any] = {}
    if "tool_resources" in body:
        changes["tool_resources"] = p.tool_resources(body["tool_resources"], vector_stores=False) or {}
    thread = await owned_thread(app, req)
    await references.require_files(app, req.project, references.in_tool_resources(changes.get("tool_resources")))
    await resources.require_stores(app, req.project, changes.get("tool_resources"))
    if "metadata" in body:
        changes["metadata"] = p.merged_metadata(thread.get("metadata"), body["metadata"])
    if not changes:
        return p.public(thread)
    updated = await app.storage.update_thread(thread["id"], changes)
    if updated is None:
        raise NotFound.object("thread", thread["id"])
    return p.public(updated)


async def delete(app: App, req: Request) -> dict[str, Any]:
    thread_id = (await owned_thread(app, req))["id"]
    active = await app.storage.get_active_run(thread_id)
    if not await app.storage.delete_thread(thread_id):
        raise NotFound.object("thread", thread_id)
    if active is not None:
        app.engine.cancel_execution(active["id"])  # nothing left to answer into
    return {"id": thread_id, "object": "thread.deleted", "deleted": True}


async def list_(app: App, req: Request) -> dict[str, Any]:
    """Not in OpenAI's public API (its dashboard had one): the dashboard's list of a project's threads."""
    page = await app.storage.list_threads(p.list_query(req), project=req.project)
    page.data = [p.public(t) for t in page.data]
    return p.list_body(page)


def register(router: Router) -> None:
    router.add("POST", "/threads", create)
    router.add("GET", "/threads", list_)
    router.add("GET", "/threads/{thread_id}", retrieve)
    router.add("POST", "/threads/{thread_id}", update)
    router.add("DELETE", "/threads/{thread_id}", delete)
