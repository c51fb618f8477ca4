from __future__ import annotations

import time
from typing import Any

from .. import ids
from ..errors import InvalidRequest, NotFound
from ..router import Router
from ..storage import ActiveRunError
from . import params as p
from .threads import owned_item, owned_thread, thread_page

_CREATE_FIELDS = ("role", "content", "attachments", "metadata")


def _content(value: Any, param: str) -> list[dict[str, Any]]:
    """Request content (a string or parts) -> stored content blocks."""
    if isinstance(value, str):
        return [{"type": "text", "text": {"value": value, "annotations": []}}]
    p.array(value, param, min_items=1)
    blocks = []
    for i, part in enumerate(value):
        pp = f"{param}[{i}]"
        p.obj(part, pp)
        kind = p.string(p.require(part, "type", f"{pp}."), f"{pp}.type",
                        choices=("text", "image_file", "image_url"))
        p.check_known(part, ("type", kind), f"{pp}.")
        if kind == "text":
            text = p.string(p.require(part, "text", f"{pp}."), f"{pp}.text")
            blocks.append({"type": "text", "text": {"value": text, "annotations": []}})
            continue
        inner = p.obj(p.require(part, kind, f"{pp}."), f"{pp}.{kind}")
        key = "file_id" if kind == "image_file" else "url"
        p.check_known(inner, (key, "detail"), f"{pp}.{kind}.")
        p.string(p.require(inner, key, f"{pp}.{kind}."), f"{pp}.{kind}.{key}")
        if "detail" in inner:
            p.string(inner["detail"], f"{pp}.{kind}.detail", choices=("auto", "low", "high"))
        blocks.append({"type": kind, kind: dict(inner)})
    return blocks


def _attachments(value: Any, param: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    p.array(value, param)
    for i, att in enumerate(value):
        pp = f"{param}[{i}]"
        p.obj(att, pp)
        p.check_known(att, ("file_id", "tools"), f"{pp}.")
        if "file_id" in att:
            p.string(att["file_id"], f"{pp}.file_id")
        for j, tool in enumerate(p.array(att.get("tools", []), f"{pp}.tools")):
            p.obj(tool, f"{pp}.tools[{j}]")
            p.check_known(tool, ("type",), f"{pp}.tools[{j}].")
            p.string(p.require(tool, "type", f"{pp}.tools[{j}]."), f"{pp}.tools[{j}].type",
                     choices=("code_interpreter", "file_search"))
    return value


def build_message(body: Any, thread_id: str, param: str = "", *, created_at: int | None = None,
                  assistant_id: str | None = None, run_id: str | None = None) -> dict[str, Any]:
    """Validate a message-create body (also the items of ``messages`` / ``additional_messages``) and
    build the stored message. ``param`` prefixes error params, e.g. ``messages[0].``."""
    p.obj(body, param.rstrip(".") or "body")
    p.check_known(body, _CREATE_FIELDS, param)
    role = p.string(p.require(body, "role", param), f"{param}role", choices=("user", "assistant"))
    content = _content(p.require(body, "content", param), f"{param}content")
    now = int(time.time()) if created_at is None else created_at
    return {
        "id": ids.new_id("msg"), "object": "thread.message", "created_at": now,
        "assistant_id": assistant_id, "thread_id": thread_id, "run_id": run_id, "role": role,
        "content": content, "attachments": _attachments(body.get("attachments"), f"{param}attachments"),
        "metadata": p.metadata(body.get("metadata"), f"{param}metadata") or {},
        "status": "completed", "incomplete_details": None, "completed_at": now, "incomplete_at": None,
    }


def active_run_error(thread_id: str, run_id: str) -> InvalidRequest:
    return InvalidRequest(f"Can't add messages to {thread_id} while a run {run_id} is active.")


async def create(app: Any, req: Any) -> dict[str, Any]:
    thread_id = req.params["thread_id"]
    message = build_message(req.json(), thread_id)
    await owned_thread(app, req)
    try:
        return await app.engine.past_orphans(thread_id, lambda: app.storage.create_message(message))
    except ActiveRunError as e:
        raise active_run_error(thread_id, e.run_id) from None


async def _get(app: Any, thread_id: str, message_id: str) -> dict[str, Any]:
    """A message of a thread already checked with owned_thread()."""
    message = await app.storage.get_message(thread_id, message_id)
    if message is None:
        raise NotFound.object("message", message_id)
    return message


async def retrieve(app: Any, req: Any) -> dict[str, Any]:
    thread_id, message_id = req.params["thread_id"], req.params["message_id"]
    message = await owned_item(app, req, await app.storage.get_message(thread_id, message_id))
    if message is None:
        raise NotFound.object("message", message_id)
    return message


async def update(app: Any, req: Any) -> dict[str, Any]:
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


async def delete(app: Any, req: Any) -> dict[str, Any]:
    thread_id, message_id = req.params["thread_id"], req.params["message_id"]
    await owned_thread(app, req)
    if not await app.storage.delete_message(thread_id, message_id):
        raise NotFound.object("message", message_id)
    return {"id": message_id, "object": "thread.message.deleted", "deleted": True}


async def list_(app: Any, req: Any) -> dict[str, Any]:
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
