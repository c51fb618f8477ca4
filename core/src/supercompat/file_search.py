"""``file_search``: the built-in tool that searches a run's vector stores (the assistant's and the
thread's) and lets the model cite what it found.

The model is offered one function, ``file_search``, taking up to five queries at once (as OpenAI's
own models search). The engine runs it here: every query is searched in the stores together, each
chunk keeps its best score, and the best ``max_num_results`` above ``score_threshold`` (within a token
budget) are the call's ``results``, stored in OpenAI's shape with their text. The model is shown each
result after a marker, ``【{call}:{result}†source】``, ``call`` counting the run's searches from 0;
the markers it writes become ``file_citation`` annotations of that result's file, and markers that
name no result are removed from the answer.

Clients see the results' ``content`` only with
``include[]=step_details.tool_calls[*].file_search.results[*].content`` (:meth:`FileSearchTool.shown`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from .errors import APIError
from .ingest.chunking import count_tokens
from .tools import MarkerAnnotator, Replay, ToolCall, ToolContext, ToolEvent, ToolResult, file_citation
from .vector_stores import VectorStores, store_ids

TYPE = "file_search"
FUNCTION = "file_search"
CONTENT = "step_details.tool_calls[*].file_search.results[*].content"  # the include[] value
MAX_QUERIES = 5
DEFAULT_RANKER = "default_2024_08_21"  # what "auto" is, and what steps show
THREAD_STORE_WAIT = 60.0  # seconds a search waits for the thread's store to finish ingesting
CLOSE_WAIT = 10.0  # seconds an App's closing waits for the searches a cancel left running
_MARKER = re.compile(r"【(\d+):(\d+)†([^】]*)】")
T = TypeVar("T")

DESCRIPTION = (
    "Search the files the user gave you (their text is cut into chunks) and get the most relevant "
    "chunks. Give up to 5 queries at once, each a self-contained question or phrase; rewrite the "
    "user's words into queries that would match the documents. Cite what you use from a result by "
    "writing its marker, exactly as given before the result (like 【0:1†source】), right after the "
    "sentence it supports.")


def _small_model(model: str) -> bool:
    return model.startswith("gpt-3.5")


def marker(ordinal: int, result: int) -> str:
    """The marker the model is shown before result ``result`` of the run's ``ordinal``-th search."""
    return f"【{ordinal}:{result}†source】"


class FileSearchTool:
    """The ``file_search`` executor (one per App: it keeps no state of its own but the searches a cancel
    left running, which :meth:`close` waits for)."""

    type = TYPE

    def __init__(self) -> None:
        self._left_running: set[asyncio.Task[Any]] = set()

    async def _unless_cancelled(self, pending: Awaitable[T]) -> T:
        """``await pending`` run as a task of its own: a cancel (the run's) ends the wait at once but
        never cuts off the storage reads under way, which finish on their own (and the App's closing
        waits for them, before it closes the storage under them)."""
        task = asyncio.ensure_future(pending)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                self._left_running.add(task)
                task.add_done_callback(_forgotten(self._left_running))
            raise

    async def close(self) -> None:
        """Wait for the searches a cancel left running (those on this loop: an App closes on its own)."""
        loop = asyncio.get_running_loop()
        running = {task for task in self._left_running if task.get_loop() is loop}
        if running:
            await asyncio.wait(running, timeout=CLOSE_WAIT)

    def function(self, tool: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        return {"name": FUNCTION, "description": DESCRIPTION, "parameters": {
            "type": "object", "required": ["queries"],
            "properties": {"queries": {"type": "array", "items": {"type": "string"},
                                       "description": f"1 to {MAX_QUERIES} search queries."}}}}

    async def execute(self, call: ToolCall, context: ToolContext) -> AsyncIterator[ToolEvent]:
        options = context.tool.get(TYPE) or {}
        ranking = options.get("ranking_options") or {}
        ranker = ranking.get("ranker") or "auto"
        threshold = float(ranking.get("score_threshold") or 0.0)
        model = str(context.run.get("model") or "")
        limit = options.get("max_num_results") or (5 if _small_model(model) else 20)
        queries = _queries(call.arguments)
        results: list[dict[str, Any]] = []
        if queries:
            results = await self._search(context, queries, limit, threshold)
        details = {"ranking_options": {"ranker": DEFAULT_RANKER if ranker == "auto" else ranker,
                                       "score_threshold": threshold},
                   "results": _within_budget(results, 4_000 if _small_model(model) else 16_000),
                   "queries": queries}
        yield ToolResult(details)

    async def _search(self, context: ToolContext, queries: list[str], limit: int,
                      threshold: float) -> list[dict[str, Any]]:
        if context.app is None:
            raise APIError("file_search needs the App's vector stores, which this run was not given.",
                           status=500, type="server_error")
        vector_stores = context.app.vector_stores
        stores = await _run_stores(context, vector_stores, self._unless_cancelled)
        if not stores:
            return []
        # Its reads (and the embedder's call) go on if the run is cancelled: only the wait ends
        found, _ = await self._unless_cancelled(vector_stores.search(
            stores, queries, limit=limit, score_threshold=threshold, filters=None))
        return [{"file_id": r["file_id"], "file_name": r["filename"], "score": r["score"],
                 "content": r["content"]} for r in found]

    def replay(self, details: dict[str, Any], ordinal: int | None) -> Replay:
        queries = details.get("queries") or []
        results = details.get("results") or []
        if not results:
            return Replay(FUNCTION, json.dumps({"queries": queries}), "No results found.")
        shown = [f"{'' if ordinal is None else marker(ordinal, i) + ' '}{r.get('file_name') or r['file_id']}\n"
                 + "".join(part.get("text", "") for part in r.get("content") or ())
                 for i, r in enumerate(results)]
        return Replay(FUNCTION, json.dumps({"queries": queries}), "\n\n".join(shown))

    def annotator(self, calls: list[dict[str, Any]]) -> MarkerAnnotator | None:
        def resolve(match: re.Match[str]) -> dict[str, Any] | None:
            ordinal, index = int(match.group(1)), int(match.group(2))
            if ordinal >= len(calls):
                return None
            results = (calls[ordinal].get(TYPE) or {}).get("results") or ()
            return file_citation(match.group(0), results[index]["file_id"]) if index < len(results) else None

        return MarkerAnnotator(_MARKER, "【", resolve, closing="】")  # with no calls: every marker goes

    def shown(self, details: dict[str, Any], include: frozenset[str]) -> dict[str, Any]:
        """The call's body as OpenAI shows it: no ``queries``, and results' ``content`` only if asked."""
        visible = {k: v for k, v in details.items() if k != "queries"}
        if CONTENT not in include and "results" in visible:
            visible["results"] = [{k: v for k, v in r.items() if k != "content"} for r in visible["results"]]
        return visible


def _forgotten(tasks: set[asyncio.Task[Any]]) -> Any:
    """A done callback: the task leaves ``tasks``, its outcome retrieved (no one else waits for it)."""

    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()

    return done


def _queries(arguments: str) -> list[str]:
    """The queries of the model's call: ``{"queries": [...]}``, also a lone ``query`` string or a list of
    strings (what models write when they stray); at most :data:`MAX_QUERIES`, blanks left out."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        return []
    if isinstance(args, dict):
        args = args.get("queries", args.get("query", []))
    if isinstance(args, str):
        args = [args]
    if not isinstance(args, list):
        return []
    return [q.strip() for q in args if isinstance(q, str) and q.strip()][:MAX_QUERIES]


async def _run_stores(context: ToolContext, vector_stores: VectorStores,
                      unless_cancelled: Callable[[Awaitable[Any]], Awaitable[Any]]) -> list[dict[str, Any]]:
    """The stores a run searches (``VectorStores.run_stores``: the assistant's then the thread's, an
    expired one failing the run); waits up to :data:`THREAD_STORE_WAIT` seconds for the thread's to
    finish ingesting (a file attached to the message just sent): a wait a cancel ends."""
    storage, run = context.storage, context.run
    thread = await storage.get_thread(run["thread_id"])
    if thread is None:
        return []
    assistant = await storage.get_assistant(run["assistant_id"])
    found = await unless_cancelled(vector_stores.run_stores(  # it marks them active: never cut off half-way
        (assistant or {}).get("tool_resources"), thread.get("tool_resources"), thread.get("project")))
    stores = {store["id"]: store for store in found}
    deadline = time.monotonic() + THREAD_STORE_WAIT
    for store_id in store_ids(thread.get("tool_resources")):
        while store_id in stores and stores[store_id]["file_counts"]["in_progress"]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await vector_stores.wait_for_change(store_id, min(remaining, 0.5))
            store = await storage.get_vector_store(store_id)
            if store is None:
                del stores[store_id]
            else:
                stores[store_id] = store
    return list(stores.values())


def _within_budget(results: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The best results whose text fits in ``budget`` tokens together (at least the best one)."""
    texts = [[part.get("text", "") for part in result.get("content") or ()] for result in results]
    if sum(len(text.encode()) for parts in texts for text in parts) <= budget:
        return results  # a token is at least a byte: no need to count them
    kept: list[dict[str, Any]] = []
    used = 0
    for result, parts in zip(results, texts, strict=True):
        used += sum(count_tokens(text) for text in parts)
        if kept and used > budget:
            break
        kept.append(result)
    return kept


def file_search_tool() -> FileSearchTool:
    return FileSearchTool()


__all__ = ["CONTENT", "FileSearchTool", "file_search_tool", "marker"]
