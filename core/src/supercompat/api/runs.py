"""Runs, run steps, create_and_run, submit_tool_outputs and cancel."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from .. import ids
from ..errors import InvalidRequest, NotFound
from ..router import Request, Response, Router
from ..runs import StreamEvent
from ..runs.engine import TERMINAL
from ..storage import ACTIVE_RUN_STATUSES, ActiveRunError, ListQuery, StaleStatusError
from . import params as p
from . import references, resources
from .assistants import get as get_assistant
from .build import build_message, build_thread
from .ownership import owned_item, owned_thread, thread_page

if TYPE_CHECKING:
    from ..app import App

_RUN_FIELDS = ("assistant_id", "model", "instructions", "additional_instructions", "additional_messages",
               "tools", "metadata", "temperature", "top_p", "stream", "max_prompt_tokens",
               "max_completion_tokens", "truncation_strategy", "tool_choice", "parallel_tool_calls",
               "response_format", "reasoning_effort")
_CREATE_AND_RUN_FIELDS = tuple(f for f in _RUN_FIELDS
                               if f not in ("additional_instructions", "additional_messages")) + (
    "thread", "tool_resources")
POLL_WAIT_SECONDS = 10.0  # the longest a poll is held, for a client that waits long enough
POLL_WAIT_UNTOLD_SECONDS = 1.0  # for a client that doesn't say how long it waits


def _validate_run_params(body: dict[str, Any], builtins: Iterable[str]) -> None:
    p.string(p.require(body, "assistant_id"), "assistant_id")
    if "model" in body:
        p.string(body["model"], "model", max_len=p.MODEL_MAX_LENGTH, nullable=True)
    for key in ("instructions", "additional_instructions"):
        if key in body:
            p.string(body[key], key, max_len=256_000, nullable=True)
    p.tools(body.get("tools"), builtins=builtins)
    p.metadata(body.get("metadata"))
    p.number(body.get("temperature"), "temperature", minimum=0, maximum=2)
    p.number(body.get("top_p"), "top_p", minimum=0, maximum=1)
    p.boolean(body.get("stream"), "stream")
    p.boolean(body.get("parallel_tool_calls"), "parallel_tool_calls")
    for key in ("max_prompt_tokens", "max_completion_tokens"):
        p.integer(body.get(key), key, minimum=1)
    p.response_format(body.get("response_format"))
    strategy = body.get("truncation_strategy")
    if strategy is not None:
        p.obj(strategy, "truncation_strategy")
        p.check_known(strategy, ("type", "last_messages"), "truncation_strategy.")
        p.string(p.require(strategy, "type", "truncation_strategy."), "truncation_strategy.type",
                 choices=("auto", "last_messages"))
        p.integer(strategy.get("last_messages"), "truncation_strategy.last_messages", minimum=1)
        if strategy["type"] == "last_messages" and not strategy.get("last_messages"):
            raise InvalidRequest("Missing required parameter: 'truncation_strategy.last_messages'.",
                                 param="truncation_strategy.last_messages", code="missing_required_parameter")
    choice = body.get("tool_choice")
    if choice is not None and not (isinstance(choice, str) and choice in ("none", "auto", "required")):
        p.obj(choice, "tool_choice")
        p.check_known(choice, ("type", "function"), "tool_choice.")
        kind = p.string(p.require(choice, "type", "tool_choice."), "tool_choice.type",
                        choices=p.tool_types(builtins))
        if kind == "function" or "function" in choice:
            fn = p.obj(p.require(choice, "function", "tool_choice."), "tool_choice.function")
            p.check_known(fn, ("name",), "tool_choice.function.")
            p.string(p.require(fn, "name", "tool_choice.function."), "tool_choice.function.name")
    if "reasoning_effort" in body:
        p.string(body["reasoning_effort"], "reasoning_effort", nullable=True, choices=p.REASONING_EFFORTS)


def _build_run(body: dict[str, Any], assistant: dict[str, Any], thread_id: str, ttl: int) -> dict[str, Any]:
    """Run parameters over the assistant's defaults; the run expires ``ttl`` seconds from now."""
    instructions = body.get("instructions")
    if instructions is None:
        instructions = assistant.get("instructions") or ""
    if body.get("additional_instructions"):
        instructions = f"{instructions}\n\n{body['additional_instructions']}" if instructions else body[
            "additional_instructions"]

    def pick(key: str, default: Any) -> Any:
        value = body.get(key)
        if value is None:
            value = assistant.get(key)
        return default if value is None else value

    created = int(time.time())
    run = {
        "id": ids.new_id("run"), "object": "thread.run", "created_at": created,
        "assistant_id": assistant["id"], "thread_id": thread_id, "status": "queued",
        "started_at": None, "expires_at": created + ttl, "cancelled_at": None, "failed_at": None,
        "completed_at": None, "required_action": None, "last_error": None,
        "model": body.get("model") or assistant["model"], "instructions": instructions,
        "tools": body["tools"] if body.get("tools") is not None else assistant.get("tools") or [],
        "metadata": body.get("metadata") or {}, "incomplete_details": None, "usage": None,
        "temperature": pick("temperature", 1.0), "top_p": pick("top_p", 1.0),
        "max_prompt_tokens": body.get("max_prompt_tokens"),
        "max_completion_tokens": body.get("max_completion_tokens"),
        "truncation_strategy": {"type": "auto", "last_messages": None, **(body.get("truncation_strategy") or {})},
        "response_format": pick("response_format", "auto"),
        "tool_choice": body.get("tool_choice") or "auto",
        "parallel_tool_calls": True if body.get("parallel_tool_calls") is None else body["parallel_tool_calls"],
    }
    effort = body.get("reasoning_effort") or assistant.get("reasoning_effort")
    if effort:
        run["reasoning_effort"] = effort
    return run


def active_run_error(thread_id: str, run_id: str) -> InvalidRequest:
    return InvalidRequest(f"Thread {thread_id} already has an active run {run_id}.")


# What ``include[]`` may ask of run steps (on run create, step list and step retrieve).
STEP_INCLUDES = ("step_details.tool_calls[*].file_search.results[*].content",)


def step_includes(req: Request) -> frozenset[str]:
    """The request's ``include[]`` values (the SDK sends ``include[]=...``), each one OpenAI knows."""
    values = [*req.query.get("include[]", ()), *req.query.get("include", ())]
    for value in values:
        if value not in STEP_INCLUDES:
            raise InvalidRequest(f"Invalid value: '{value}'. Supported values are: "
                                 + ", ".join(f"'{v}'" for v in STEP_INCLUDES) + ".",
                                 param="include", code="invalid_value")
    return frozenset(values)


def _shown_details(app: App, details: dict[str, Any], include: frozenset[str]) -> dict[str, Any]:
    """A ``tool_calls`` step's details (or a step delta's) as clients see them: each built-in call's
    body as its executor shows it (``ToolExecutor.shown``)."""
    calls = details.get("tool_calls")
    if not calls:
        return details
    shown, changed = [], False
    for call in calls:
        kind = call.get("type")
        show = getattr(app.tools.get(kind), "shown", None) if kind != "function" else None
        if show is not None and kind in call:
            call, changed = {**call, kind: show(call[kind], include)}, True
        shown.append(call)
    return {**details, "tool_calls": shown} if changed else details


def shown_step(app: App, step: dict[str, Any], include: frozenset[str]) -> dict[str, Any]:
    details = step.get("step_details") or {}
    shown = _shown_details(app, details, include) if details.get("type") == "tool_calls" else details
    return step if shown is details else {**step, "step_details": shown}


async def _shown_events(app: App, events: AsyncIterator[StreamEvent],
                        include: frozenset[str]) -> AsyncIterator[StreamEvent]:
    """A run's stream with its steps as this request may see them (see ``shown_step``): an event that
    changes is this stream's own, the others are framed once for every stream."""
    async for published in events:
        event = published.event
        if event.startswith("thread.run.step."):
            data = published.data
            if event == "thread.run.step.delta":
                details = data["delta"].get("step_details") or {}
                shown = _shown_details(app, details, include)
                if shown is not details:
                    published = StreamEvent(event, {**data, "delta": {**data["delta"], "step_details": shown}})
            elif (step := shown_step(app, data, include)) is not data:
                published = StreamEvent(event, step)
        yield published


def _launch(app: App, run: dict[str, Any], stream: bool, prelude: list[tuple[str, Any]],
            resumed_steps: list[dict[str, Any]] | None = None, include: frozenset[str] = frozenset()) -> Any:
    engine = app.engine
    queue = engine.subscribe(run["id"]) if stream else None
    engine.start(run, resumed_steps)  # at once: a run never waits for its stream to be read
    if queue is None:
        return run
    events = engine.stream(run["id"], queue, prelude)
    return Response.run_stream(_shown_events(app, events, include) if app.tools else events)


async def create(app: App, req: Request) -> Any:
    thread_id = req.params["thread_id"]
    body = req.json()
    p.check_known(body, _RUN_FIELDS)
    _validate_run_params(body, app.tools)
    include = step_includes(req)
    extra = body.get("additional_messages") or []
    p.array(extra, "additional_messages", max_items=32)
    messages = [build_message(m, thread_id, f"additional_messages[{i}].") for i, m in enumerate(extra)]
    thread = await owned_thread(app, req)
    assistant = await get_assistant(app, body["assistant_id"], req.project)
    files = await references.require_files(app, req.project,
                                           references.in_messages(messages, "additional_messages"))
    run = _build_run(body, assistant, thread_id, app.engine.requires_action_ttl)
    try:
        await resources.attach_to_thread(app, thread, messages, files)
        run = await app.engine.past_orphans(thread_id, lambda: app.storage.create_run(run, messages))
    except ActiveRunError as e:
        raise active_run_error(thread_id, e.run_id) from None
    return _launch(app, run, bool(body.get("stream")), [("thread.run.created", run), ("thread.run.queued", run)],
                   include=include)


async def create_and_run(app: App, req: Request) -> Any:
    body = req.json()
    p.check_known(body, _CREATE_AND_RUN_FIELDS)
    _validate_run_params(body, app.tools)
    thread_body = dict(p.obj(body.get("thread"), "thread", nullable=True) or {})
    given_resources = thread_body.get("tool_resources")
    if body.get("tool_resources") is not None:
        p.tool_resources(body["tool_resources"], vector_stores=False)
        thread_body.setdefault("tool_resources", body["tool_resources"])
    thread, messages = build_thread(thread_body, "thread.")
    p.stamp_project(thread, req)
    assistant = await get_assistant(app, body["assistant_id"], req.project)
    files = await references.require_files(app, req.project, itertools.chain(
        references.in_messages(messages, "thread.messages"),
        references.in_tool_resources(given_resources, "thread.tool_resources"),
        references.in_tool_resources(body.get("tool_resources"))))
    await resources.require_stores(app, req.project, body.get("tool_resources"))
    thread["tool_resources"] = await resources.for_new_thread(
        app, req.project, thread["tool_resources"], messages, files,
        "thread.tool_resources" if given_resources is not None else "tool_resources")
    run = _build_run(body, assistant, thread["id"], app.engine.requires_action_ttl)
    thread = await app.storage.create_thread(thread, messages)
    run = await app.storage.create_run(run, [])
    return _launch(app, run, bool(body.get("stream")),
                   [("thread.created", p.public(thread)), ("thread.run.created", run), ("thread.run.queued", run)])


async def get_run(app: App, req: Request) -> dict[str, Any]:
    """The run the path names, if the request may see it (see ``owned_item``), settled."""
    run_id = req.params["run_id"]
    run = await owned_item(app, req, await app.storage.get_run(req.params["thread_id"], run_id))
    if run is None:
        raise NotFound.object("run", run_id)
    return await app.engine.settle(run)


def poll_hold_seconds(req: Request) -> float:
    """How long a poll may be held: well inside the client's read timeout, which the SDK sends as
    ``x-stainless-read-timeout`` (openai 1.66 on), so the answer always comes before it gives up."""
    try:
        read_timeout = float(req.header("x-stainless-read-timeout") or "nan")
    except ValueError:
        read_timeout = math.nan
    if math.isnan(read_timeout):
        return POLL_WAIT_UNTOLD_SECONDS
    return max(0.0, min(POLL_WAIT_SECONDS, read_timeout / 2 - 0.5))


async def retrieve(app: App, req: Request) -> Response:
    thread_id, run_id = req.params["thread_id"], req.params["run_id"]
    run = await get_run(app, req)
    if req.header("x-stainless-poll-helper"):
        polled = await app.engine.wait_for_poll(thread_id, run_id, run, poll_hold_seconds(req))
        if polled is None:
            raise NotFound.object("run", run_id)
        run = polled
    # poll() reads this once and sleeps that long between GETs; the GET itself waits for news.
    return Response.json(run, headers=[("openai-poll-after-ms", "1")])


async def update(app: App, req: Request) -> dict[str, Any]:
    body = req.json()
    p.check_known(body, ("metadata",))
    thread_id, run_id = req.params["thread_id"], req.params["run_id"]
    run = await get_run(app, req)
    if "metadata" not in body:
        return run
    metadata = p.merged_metadata(run.get("metadata"), body["metadata"])
    updated = await app.storage.update_run(thread_id, run_id, {"metadata": metadata})
    if updated is None:
        raise NotFound.object("run", run_id)
    return updated


async def list_(app: App, req: Request) -> dict[str, Any]:
    thread_id = req.params["thread_id"]
    query = p.list_query(req)
    page = await app.storage.list_runs(thread_id, query)
    page.data = await app.engine.settle_runs(thread_id, page.data)  # a listed run is settled as a read one
    return await thread_page(app, req, page)


async def cancel(app: App, req: Request) -> dict[str, Any]:
    run_id = req.params["run_id"]
    run = await get_run(app, req)
    if run["status"] not in ACTIVE_RUN_STATUSES:
        raise InvalidRequest(f"Cannot cancel run with status '{run['status']}'.")
    engine = app.engine
    # In progress here, or under another process's engine: ask it to stop (it sees `cancelling` at its
    # next heartbeat or write) and let the executor record the ending.
    if engine.is_executing(run_id) or run["status"] == "in_progress":
        try:
            run = await engine.transition(run, {"status": "cancelling"}, "thread.run.cancelling",
                                          frozenset({"queued", "in_progress"}))
            engine.cancel_execution(run_id)
            return run
        except StaleStatusError as stale:
            run = stale.current  # it moved on meanwhile (to requires_action, say): cancel it directly
    t = int(time.time())
    try:
        run = await engine.transition(run, {"status": "cancelled", "cancelled_at": t, "expires_at": None,
                                            "required_action": None}, "thread.run.cancelled",
                                      frozenset({"requires_action", "queued"}))
    except StaleStatusError as stale:
        if stale.current["status"] in TERMINAL:
            raise InvalidRequest(f"Cannot cancel run with status '{stale.current['status']}'.") from None
        return stale.current  # cancelling already, or in progress under another process's engine
    await engine.close_tool_steps(run, "cancelled", t)
    return run


async def submit_tool_outputs(app: App, req: Request) -> Any:
    thread_id, run_id = req.params["thread_id"], req.params["run_id"]
    body = req.json()
    p.check_known(body, ("tool_outputs", "stream"))
    outputs = p.array(p.require(body, "tool_outputs"), "tool_outputs")
    by_id: dict[str, str] = {}
    for i, out in enumerate(outputs):
        p.obj(out, f"tool_outputs[{i}]")
        p.check_known(out, ("tool_call_id", "output"), f"tool_outputs[{i}].")
        call_id = p.string(p.require(out, "tool_call_id", f"tool_outputs[{i}]."), f"tool_outputs[{i}].tool_call_id")
        by_id[call_id] = p.string(out.get("output", ""), f"tool_outputs[{i}].output") or ""
    stream = bool(p.boolean(body.get("stream"), "stream"))
    run = await get_run(app, req)
    if run["status"] != "requires_action":
        raise InvalidRequest(f"Runs in status \"{run['status']}\" do not accept tool outputs.")
    expected = [c["id"] for c in run["required_action"]["submit_tool_outputs"]["tool_calls"]]
    missing = [c for c in expected if c not in by_id]
    unknown = [c for c in by_id if c not in expected]
    if missing or unknown:
        raise InvalidRequest(f"Expected tool outputs for call_ids {expected}, got {list(by_id)}.",
                             param="tool_outputs")
    try:
        expires_at = int(time.time()) + app.engine.requires_action_ttl
        queued = await app.storage.update_run(thread_id, run_id, {"status": "queued", "required_action": None,
                                                                  "expires_at": expires_at},
                                              expected_status=frozenset({"requires_action"}))
    except StaleStatusError as stale:
        raise InvalidRequest(f"Runs in status \"{stale.current['status']}\" do not accept tool outputs.") from None
    if queued is None:  # deleted, with its thread, since it was read
        raise NotFound.object("run", run_id)
    run = queued
    completed = []
    t = int(time.time())
    for step in (await app.storage.list_steps(thread_id, run_id, ListQuery(limit=100, order="desc"))).data:
        if step["type"] == "tool_calls" and step["status"] == "in_progress":
            # Only the functions wait for outputs: built-in calls of the same turn were answered already.
            calls = [{**c, "function": {**c["function"], "output": by_id.get(c["id"], "")}} if c["type"] == "function"
                     else c for c in step["step_details"]["tool_calls"]]
            updated = await app.storage.update_step(thread_id, run_id, step["id"], {
                "status": "completed", "completed_at": t,
                "step_details": {"type": "tool_calls", "tool_calls": calls}})
            if updated is not None:
                completed.append(updated)
    return _launch(app, run, stream, [("thread.run.queued", run)], completed)


async def retrieve_step(app: App, req: Request) -> dict[str, Any]:
    thread_id, run_id, step_id = req.params["thread_id"], req.params["run_id"], req.params["step_id"]
    include = step_includes(req)
    step = await app.storage.get_step(thread_id, run_id, step_id)
    if step is None:
        await get_run(app, req)  # the thread's or the run's 404 if either is missing
        raise NotFound.object("run step", step_id)
    return shown_step(app, await owned_item(app, req, step), include)


async def list_steps(app: App, req: Request) -> dict[str, Any]:
    thread_id, run_id = req.params["thread_id"], req.params["run_id"]
    query = p.list_query(req)
    include = step_includes(req)
    await get_run(app, req)
    page = await app.storage.list_steps(thread_id, run_id, query)
    page.data = [shown_step(app, step, include) for step in page.data]
    return p.list_body(page)


def register(router: Router) -> None:
    router.add("POST", "/threads/runs", create_and_run)
    router.add("POST", "/threads/{thread_id}/runs", create)
    router.add("GET", "/threads/{thread_id}/runs", list_)
    router.add("GET", "/threads/{thread_id}/runs/{run_id}", retrieve)
    router.add("POST", "/threads/{thread_id}/runs/{run_id}", update)
    router.add("POST", "/threads/{thread_id}/runs/{run_id}/cancel", cancel)
    router.add("POST", "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", submit_tool_outputs)
    router.add("GET", "/threads/{thread_id}/runs/{run_id}/steps", list_steps)
    router.add("GET", "/threads/{thread_id}/runs/{run_id}/steps/{step_id}", retrieve_step)
