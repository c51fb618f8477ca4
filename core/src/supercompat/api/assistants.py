from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .. import ids
from ..errors import NotFound
from ..router import Request, Router
from . import params as p
from . import references, resources
from .ownership import of_project

if TYPE_CHECKING:
    from ..app import App

_FIELDS = ("model", "name", "description", "instructions", "tools", "tool_resources", "metadata",
           "temperature", "top_p", "response_format", "reasoning_effort")


def validate(body: dict[str, Any], *, creating: bool, builtins: Iterable[str] = ()) -> dict[str, Any]:
    """``builtins``: the App's built-in tool types (valid in ``tools`` beside OpenAI's)."""
    p.check_known(body, _FIELDS)
    if creating:
        p.require(body, "model")
    if "model" in body:
        p.string(body["model"], "model", max_len=p.MODEL_MAX_LENGTH)
    if "name" in body:
        p.string(body["name"], "name", max_len=256, nullable=True)
    if "description" in body:
        p.string(body["description"], "description", max_len=512, nullable=True)
    if "instructions" in body:
        p.string(body["instructions"], "instructions", max_len=256_000, nullable=True)
    p.tools(body.get("tools"), builtins=builtins)
    p.tool_resources(body.get("tool_resources"), vector_stores=creating)
    p.metadata(body.get("metadata"))
    p.number(body.get("temperature"), "temperature", minimum=0, maximum=2)
    p.number(body.get("top_p"), "top_p", minimum=0, maximum=1)
    p.response_format(body.get("response_format"))
    if "reasoning_effort" in body:
        p.string(body["reasoning_effort"], "reasoning_effort", nullable=True, choices=p.REASONING_EFFORTS)
    return body


def _apply(body: dict[str, Any]) -> dict[str, Any]:
    """Request fields -> stored fields; an explicit null means the API default."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("tools",):
            value = value or []
        elif key in ("metadata", "tool_resources"):
            value = value or {}
        elif key in ("temperature", "top_p"):
            value = 1.0 if value is None else value
        elif key == "response_format":
            value = "auto" if value is None else value
        out[key] = value
    return out


async def create(app: App, req: Request) -> dict[str, Any]:
    body = validate(req.json(), creating=True, builtins=app.tools)
    assistant = {
        "id": ids.new_id("asst"), "object": "assistant", "created_at": int(time.time()),
        "name": None, "description": None, "model": body["model"], "instructions": None,
        "tools": [], "tool_resources": {}, "metadata": {}, "temperature": 1.0, "top_p": 1.0,
        "response_format": "auto",
    }
    assistant.update(_apply(body))
    p.stamp_project(assistant, req)
    files = await references.require_files(app, req.project,
                                           references.in_tool_resources(body.get("tool_resources")))
    assistant["tool_resources"] = await resources.for_new_assistant(app, req.project,
                                                                    assistant["tool_resources"], files)
    return p.public(await app.storage.create_assistant(assistant))


async def get(app: App, assistant_id: str, project: str | None) -> dict[str, Any]:
    """The assistant, if it belongs to ``project``."""
    return of_project(await app.storage.get_assistant(assistant_id), project, "assistant", assistant_id)


async def retrieve(app: App, req: Request) -> dict[str, Any]:
    return p.public(await get(app, req.params["assistant_id"], req.project))


async def update(app: App, req: Request) -> dict[str, Any]:
    body = validate(req.json(), creating=False, builtins=app.tools)
    assistant_id = req.params["assistant_id"]
    current = await get(app, assistant_id, req.project)
    await references.require_files(app, req.project, references.in_tool_resources(body.get("tool_resources")))
    await resources.require_stores(app, req.project, body.get("tool_resources"))
    changes = _apply(body)
    if "metadata" in body:
        changes["metadata"] = p.merged_metadata(current.get("metadata"), body["metadata"])
    updated = await app.storage.update_assistant(assistant_id, changes)
    if updated is None:
        raise NotFound.object("assistant", assistant_id)
    return p.public(updated)


async def delete(app: App, req: Request) -> dict[str, Any]:
    assistant_id = req.params["assistant_id"]
    await get(app, assistant_id, req.project)
    if not await app.storage.delete_assistant(assistant_id):
        raise NotFound.object("assistant", assistant_id)
    return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}


async def list_(app: App, req: Request) -> dict[str, Any]:
    page = await app.storage.list_assistants(p.list_query(req), project=req.project)
    page.data = [p.public(a) for a in page.data]
    return p.list_body(page)


def register(router: Router) -> None:
    router.add("POST", "/assistants", create)
    router.add("GET", "/assistants", list_)
    router.add("GET", "/assistants/{assistant_id}", retrieve)
    router.add("POST", "/assistants/{assistant_id}", update)
    router.add("DELETE", "/assistants/{assistant_id}", delete)
