"""``chat.completions`` and ``models``, answered by the configured client adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..errors import NotFound, ServerError
from ..router import Response, Router, dumps
from . import params as p


def _client(app: Any) -> Any:
    if app.client is None:
        raise ServerError("No client adapter is configured.")
    return app.client


async def create(app: Any, req: Any) -> Any:
    body = req.json()
    p.string(p.require(body, "model"), "model")
    p.array(p.require(body, "messages"), "messages", min_items=1)
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


async def list_models(app: Any, req: Any) -> dict[str, Any]:
    return {"object": "list", "data": await _client(app).list_models()}


async def retrieve_model(app: Any, req: Any) -> dict[str, Any]:
    model_id = req.params["model"]
    for model in await _client(app).list_models():
        if model["id"] == model_id:
            return model
    raise NotFound(f"The model '{model_id}' does not exist", param="model", code="model_not_found")


def register(router: Router) -> None:
    router.add("POST", "/chat/completions", create)
    router.add("GET", "/models", list_models)
    router.add("GET", "/models/{model}", retrieve_model)
