"""Validated request bodies turned into the objects storage keeps, where several endpoints build the
same kind: a message (create message, a thread's ``messages``, a run's ``additional_messages``) and
a thread (create thread, create_and_run's ``thread``)."""

from __future__ import annotations

import time
from typing import Any

from .. import ids
from . import params as p

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


def build_thread(body: Any, param: str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Validate a thread-create body (also ``thread`` of create_and_run): the thread and its messages."""
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
