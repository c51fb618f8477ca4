"""``test_lookup``: a built-in tool for tests of the engine's tool loop, exercising the whole path a
real one (file_search, code_interpreter) takes: step deltas, details, an output the model is shown
again on later turns, a citation marker its annotator resolves, an image, a slow call, a failure.

The model (say the scripted adapter) drives it by calling the function ``test_lookup`` with
``{"query": "Paris"}``; ``"sleep": seconds`` makes the call slow, ``"fail": "why"`` makes it raise,
``"image": true`` adds an image to the next assistant message.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from ..tools import (
    MarkerAnnotator,
    Replay,
    ToolCall,
    ToolContext,
    ToolDelta,
    ToolEvent,
    ToolResult,
    file_citation,
)

TYPE = "test_lookup"
IMAGE_FILE_ID = "file-testlookupimage"
_MARKER = re.compile(r"【(\d+):(\d+)†([^】]*)】")


def marker(ordinal: int, query: str) -> str:
    """The citation the output of the run's ``ordinal``-th lookup of ``query`` teaches the model."""
    return f"【{ordinal}:0†{query}.txt】"


def file_id_of(query: str) -> str:
    return "file-" + "".join(c for c in query.lower() if c.isalnum())


class LookupTool:
    """The ``test_lookup`` executor. ``started`` lists the call ids it began, ``cancelled`` those
    whose run was cancelled (or shut down) while it slept."""

    type = TYPE

    def __init__(self) -> None:
        self.started: list[str] = []
        self.cancelled: list[str] = []

    def function(self, tool: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        return {"name": TYPE, "description": "Look a query up in the test library; cite results as given.",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}

    async def execute(self, call: ToolCall, context: ToolContext) -> AsyncIterator[ToolEvent]:
        args = json.loads(call.arguments or "{}")
        query = str(args.get("query", ""))
        self.started.append(call.id)
        yield ToolDelta({"query": query})
        try:
            await asyncio.sleep(float(args.get("sleep", 0)))
        except asyncio.CancelledError:
            self.cancelled.append(call.id)
            raise
        if args.get("fail"):
            raise RuntimeError(f"test_lookup failed: {args['fail']}")
        result = {"file_id": file_id_of(query), "file_name": f"{query}.txt", "score": 1.0,
                  "content": [{"type": "text", "text": f"All about {query}."}]}
        yield ToolDelta({"results": [{"index": 0, **result}]})
        yield ToolResult({"query": query, "results": [result]}, images=(IMAGE_FILE_ID,) if args.get("image") else ())

    def replay(self, details: dict[str, Any], ordinal: int | None) -> Replay:
        query = details.get("query", "")
        cite = "" if ordinal is None else marker(ordinal, query) + " "
        found = " ".join(f"{cite}{part['text']}" for r in details.get("results", ())
                         for part in r.get("content", ()))
        return Replay(TYPE, json.dumps({"query": query}), found or "Nothing found.")

    def annotator(self, calls: list[dict[str, Any]]) -> MarkerAnnotator | None:
        def resolve(match: re.Match[str]) -> dict[str, Any] | None:
            ordinal, result = int(match.group(1)), int(match.group(2))
            if ordinal >= len(calls):
                return None
            results = calls[ordinal][TYPE].get("results") or ()
            return file_citation(match.group(0), results[result]["file_id"]) if result < len(results) else None

        return MarkerAnnotator(_MARKER, "【", resolve, closing="】") if calls else None


def lookup_tool() -> LookupTool:
    return LookupTool()
