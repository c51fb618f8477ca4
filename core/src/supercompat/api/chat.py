"""``chat.completions`` and ``models``, answered by the configured client adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..errors import NotFound, ServerError
from ..router import Request, Response, Router, dumps
from . import params as p

if TYPE_CHECKING:
    from ..app import App
    from ..clients import ClientAdapter


def _client(app: App) -> ClientAdapter:
    if app.client is None:
        raise ServerError("No client adapter is configured.")
    return app.client


_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def _messages(value: Any) -> None:
    """The shape every client adapter reads, as the SDK's message param types give it; the provider
    judges the rest."""
    for i, message in enumerate(p.array(value, "messages", min_items=1)):
        mp = f"messages[{i}]"
        p.obj(message, mp)
        role = p.string(p.require(message, "role", f"{mp}."), f"{mp}.role", choices=_ROLES)
        if role != "assistant":
            p.require(message, "content", f"{mp}.")
        content = message.get("content")
        if content is None:
            if role not in ("assistant", "function"):
                raise p.invalid_type(f"{mp}.content", "a string or an array", content)
        elif not isinstance(content, str):
            for j, part in enumerate(p.array(content, f"{mp}.content")):
                pp = f"{mp}.content[{j}]"
                p.obj(part, pp)
                if p.string(p.require(part, "type", f"{pp}."), f"{pp}.type") == "text":
                    p.string(p.require(part, "text", f"{pp}."), f"{pp}.text")
        if "name" in message or role == "function":
            p.string(p.require(message, "name", f"{mp}."), f"{mp}.name")
        if role == "tool":
            p.string(p.require(message, "tool_call_id", f"{mp}."), f"{mp}.tool_call_id")
        if message.get("tool_calls") is not None:
            for j, call in enumerate(p.array(message["tool_calls"], f"{mp}.tool_calls")):
                cp = f"{mp}.tool_calls[{j}]"
                p.obj(call, cp)
                p.string(p.require(call, "id", f"{cp}."), f"{cp}.id")
                if p.string(p.require(call, "type", f"{cp}."), f"{cp}.type") == "function":
                    fn = p.obj(p.require(call, "function", f"{cp}."), f"{cp}.function")
                    p.string(p.require(fn, "name", f"{cp}.function."), f"{cp}.function.name")
                    p.string(p.require(fn, "arguments", f"{cp}.function."), f"{cp}.function.arguments")


def _tools(value: Any) -> None:
    for i, tool in enumerate(p.array(value, "tools")):
        p.obj(tool, f"tools[{i}]")
        if p.string(p.require(tool, "type", f"tools[{i}]."), f"tools[{i}].type") == "function":
            fn = p.obj(p.require(tool, "function", f"tools[{i}]."), f"tools[{i}].function")
            p.string(p.require(fn, "name", f"tools[{i}].function."), f"tools[{i}].function.name")


async def create(app: App, req: Request) -> Any:
    body = req.json()
    p.string(p.require(body, "model"), "model")
    _messages(p.require(body, "messages"))
    if body.get("tools") is not None:
        _tools(body["tools"])
    p.obj(body.get("stream_options"), "stream_options", nullable=True)
    client = _client(app)
    params = {k: v for k, v in body.items() if k != "stream"}
    if not body.get("stream"):
        return await client.chat_completions(params)
    stream = client.chat_completions_stream(params)
    # Fetch the first chunk before answering, so a provider error is a proper HTTP error.
    first = await anext(stream, None)

    async def frames() -> AsyncIterator[bytes]:
        if first is not None:
            yield b"data: " + dumps(first) + b"\n\n"
            async for chunk in stream:
                yield b"data: " + dumps(chunk) + b"\n\n"
        yield b"data: [DONE]\n\n"

    return Response.event_stream(frames(), named_events=False)


async def list_models(app: App, req: Request) -> dict[str, Any]:
    return {"object": "list", "data": await _client(app).list_models()}


async def retrieve_model(app: App, req: Request) -> dict[str, Any]:
    model_id = req.params["model"]
    for model in await _client(app).list_models():
        if model["id"] == model_id:
            return model
    raise NotFound(f"The model '{model_id}' does not exist", param="model", code="model_not_found")


def register(router: Router) -> None:
    router.add("POST", "/chat/completions", create)
    router.add("GET", "/models", list_models)
    router.add("GET", "/models/{model}", retrieve_model)
