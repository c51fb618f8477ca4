"""The RunEngine: the run state machine, persistence of every change, and event fan-out.

One execution *segment* goes from ``queued`` to ``requires_action`` or a terminal status: the run
adapter yields one model turn's events and the engine turns them into steps, messages and run
updates, each persisted through the storage adapter before it is published. Streams subscribe to a
run's events (:class:`~supercompat.runs.StreamEvent`, which the API layer frames as SSE: the engine
knows no wire format); a run never depends on anyone listening.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from .. import loop as _loop
from ..errors import APIError, ServerError, redacted
from ..ids import new_id
from ..jobs import keep_leases, renew_and_reclaim
from ..storage import (
    ACTIVE_RUN_STATUSES,
    EVERYTHING,
    EXECUTING_RUN_STATUSES,
    RUN_LEASE,
    ActiveRunError,
    ListQuery,
    StaleStatusError,
    StorageAdapter,
)
from ..tools import BuiltinTool, ToolCall, ToolContext, ToolDelta, ToolResult, bind
from . import ImageFile, RunContext, StreamEvent, TextDelta, ToolCallDelta, TurnEnd, completed_tool_calls

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger("supercompat")

TERMINAL = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
POLL_DONE = TERMINAL | {"requires_action"}  # where the SDK's poll() stops
REQUIRES_ACTION_TTL = 600
HEARTBEAT_INTERVAL = 5.0  # seconds between an executor's heartbeats
ORPHAN_AFTER = 30.0  # seconds without a heartbeat after which another process ends the run
SWEEP_INTERVAL = 10.0  # seconds between an idle process's looks for runs whose executor died
MAX_TOOL_ROUNDS = 20  # model turns in a row, within a segment, that call only built-in tools
_END = object()


def now() -> int:
    return int(time.time())


def last_error(err: BaseException) -> dict[str, str]:
    """The run's ``last_error`` for ``err``; clients read it, so URLs and paths are redacted."""
    if isinstance(err, APIError) and err.status == 429:
        return {"code": "rate_limit_exceeded", "message": redacted(err.message)}
    if isinstance(err, APIError) and err.code == "invalid_prompt":  # the thread can't be sent as it is
        return {"code": "invalid_prompt", "message": redacted(err.message)}
    if isinstance(err, APIError):
        return {"code": "server_error", "message": redacted(err.message)}
    return {"code": "server_error", "message": redacted(f"The run failed: {type(err).__name__}: {err}")}


@dataclass(slots=True)
class _BuiltinCall:
    """A call of a built-in tool while the model writes it: the run's tool and its arguments so far."""

    builtin: BuiltinTool
    arguments: str = ""

    def grow(self, piece: str) -> dict[str, Any] | None:
        """Add ``piece`` to the arguments; what the executor shows of it while the model writes
        (code_interpreter streams its ``input``), if it has an ``arguments_delta``."""
        before = self.arguments
        self.arguments = before + piece
        follow = getattr(self.builtin.executor, "arguments_delta", None)
        return follow(before, self.arguments) if follow is not None and piece else None


class _Turn:
    """What the run segment in flight has opened so far, and its abort.

    A segment loops over model turns (``round``): the message, steps and calls below are the current
    round's (``next_round`` starts the next one); ``bound`` (the run's built-in tools by function
    name), ``executed`` (the run's built-in calls by type, for annotators) and ``images`` (image parts
    waiting for the next message) live as long as the segment.

    An abort (a cancel, a shutdown) interrupts the segment only while it waits for the run adapter's
    next event (the model) or a built-in tool's, and not during the storage calls either makes
    meanwhile (``_TurnStorage``); one requested while the engine is persisting an event is taken
    just before it asks for more. So a cancel never breaks off a storage call half-way, on any
    storage (only a shutdown past its grace does, see ``RunEngine.shutdown``)."""

    __slots__ = ("message", "message_step", "parts", "text", "notes", "annotators", "held", "held_notes",
                 "tool_step", "calls", "builtins", "round", "bound", "executed", "images", "task", "waiting",
                 "in_storage", "aborted")

    def __init__(self) -> None:
        self.round = 0
        self.bound: dict[str, Any] = {}
        self.executed: dict[str, list[dict[str, Any]]] = {}
        self.images: list[str] = []
        self.task: asyncio.Task[None] | None = None
        self.waiting = False
        self.in_storage = 0  # storage calls the run adapter or a tool has under way
        self.aborted = False
        self._start_round()

    def _start_round(self) -> None:
        self.message: dict[str, Any] | None = None
        self.message_step: dict[str, Any] | None = None
        self.parts: list[dict[str, Any]] = []  # the message's finished content parts
        self.text: list[str] = []  # the text part being written, as published
        self.notes: list[dict[str, Any]] = []  # its annotations, as stored
        self.annotators: list[Any] | None = None  # None: the plain text path
        self.held = ""  # text held back: it may be the start of a marker
        self.held_notes: list[dict[str, Any]] = []  # an adapter's annotations reaching into held text
        self.tool_step: dict[str, Any] | None = None
        self.calls: list[dict[str, Any]] = []
        self.builtins: dict[int, _BuiltinCall] = {}  # call index -> the built-in call at it

    def next_round(self) -> None:
        self.round += 1
        self._start_round()

    def abort(self) -> None:
        self.aborted = True
        if self.waiting and not self.in_storage and self.task is not None:
            self.task.cancel()

    async def next_event(self, events: AsyncIterator[Any]) -> Any:
        """The adapter's (or a tool's) next event (StopAsyncIteration at the end); the one place an
        abort lands."""
        if self.aborted:
            raise asyncio.CancelledError
        self.waiting = True
        try:
            return await anext(events)
        finally:
            self.waiting = False


class _TurnStorage:
    """The storage as the run adapter sees it: the adapter reads the thread while the engine waits for
    its next event, so each call takes the turn out of the model for its duration. An abort arriving
    meanwhile is delivered once the call has returned, as for the engine's own writes."""

    def __init__(self, storage: StorageAdapter, turn: _Turn) -> None:
        self._storage, self._turn = storage, turn

    @classmethod
    def of(cls, storage: StorageAdapter, turn: _Turn) -> StorageAdapter:
        """``storage`` as the turn's adapters see it: every method of it, through this proxy."""
        return cast("StorageAdapter", cls(storage, turn))

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._storage, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            return self._outside_model(result) if inspect.isawaitable(result) else result

        return call

    async def _outside_model(self, pending: Awaitable[Any]) -> Any:
        turn = self._turn
        turn.in_storage += 1
        try:
            result = await pending
        finally:
            turn.in_storage -= 1
        if turn.aborted:
            raise asyncio.CancelledError
        return result


class RunEngine:
    def __init__(self, app: App) -> None:
        self.app = app
        self.requires_action_ttl = REQUIRES_ACTION_TTL
        self.heartbeat_interval = HEARTBEAT_INTERVAL
        self.orphan_after = ORPHAN_AFTER
        self.sweep_interval = SWEEP_INTERVAL
        # A segment whose model keeps calling built-in tools without answering ends failed after this
        # many such turns in a row, rather than call the model (and the tools) forever.
        self.max_tool_rounds = MAX_TOOL_ROUNDS
        self._start_afresh()

    def _start_afresh(self) -> None:
        """The state of the runs this process executes, all of it bound to the loop they run on."""
        self._heartbeat: asyncio.Task[None] | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._subscribers: dict[str, list[asyncio.Queue[Any]]] = {}
        self._changed: dict[str, asyncio.Future[None]] = {}
        self._turns: dict[str, _Turn] = {}  # run id -> its turn in flight
        # Runs started here that haven't reached a terminal status: what shutdown() must settle.
        self._unfinished: dict[str, str] = {}  # run id -> thread id
        self._shutdown_error: APIError | None = None

    def after_fork(self) -> None:
        """In a forked child: the runs executing at the fork are the parent's, which goes on executing
        and heartbeating them; the child executes none (its tasks would belong to a loop it doesn't run)."""
        _loop.keep_inherited(self._heartbeat, self._tasks, self._turns, self._changed, self._subscribers)
        self._start_afresh()

    # -- fan-out ------------------------------------------------------------------------------
    def _publish(self, run_id: str, event: str, data: Any) -> None:
        queues = self._subscribers.get(run_id)
        if queues:
            published = StreamEvent(event, data)  # one for every subscriber: framed once, see StreamEvent
            for q in queues:
                q.put_nowait(published)

    def _notify(self, run_id: str) -> None:
        fut = self._changed.pop(run_id, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _end_segment(self, run_id: str) -> None:
        for q in self._subscribers.pop(run_id, ()):
            q.put_nowait(_END)

    def subscribe(self, run_id: str) -> asyncio.Queue[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._subscribers.setdefault(run_id, []).append(queue)
        return queue

    async def stream(self, run_id: str, queue: asyncio.Queue[Any],
                     prelude: Iterable[tuple[str, Any]]) -> AsyncIterator[StreamEvent]:
        """The events of one segment from a queue subscribed before the run started: ``prelude``
        events, then the run's own until the segment stops. The run never waits for this to be read."""
        try:
            for event, data in prelude:
                yield StreamEvent(event, data)
            while (published := await queue.get()) is not _END:
                yield published
        finally:
            queues = self._subscribers.get(run_id)
            if queues and queue in queues:
                queues.remove(queue)

    async def wait_for_poll(self, thread_id: str, run_id: str, run: dict[str, Any],
                            timeout: float) -> dict[str, Any] | None:
        """Hold a poll until the run reaches a status poll() stops at (bounded by ``timeout``). Wakes on
        this process's changes at once and re-reads storage now and then for other processes'."""
        deadline = time.monotonic() + timeout
        while run["status"] not in POLL_DONE:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            fut = self._changed.get(run_id)
            if fut is None or fut.done():
                fut = self._changed[run_id] = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(asyncio.shield(fut), min(remaining, 0.25))
            except TimeoutError:
                pass
            current = await self.app.storage.get_run(thread_id, run_id)
            if current is None:  # deleted meanwhile
                self._changed.pop(run_id, None)
                return None
            run = current
        return run

    # -- persistence helpers ------------------------------------------------------------------
    async def transition(self, run: dict[str, Any], changes: dict[str, Any], event: str | None,
                          expected: frozenset[str] | None = None) -> dict[str, Any]:
        new = await self.app.storage.update_run(run["thread_id"], run["id"], changes, expected_status=expected)
        if new is None:
            self._unfinished.pop(run["id"], None)
            raise StaleStatusError({**run, "status": "deleted"})
        if "status" in changes:
            if changes["status"] in TERMINAL:
                self._unfinished.pop(run["id"], None)
            self._notify(run["id"])
        if event:
            self._publish(run["id"], event, new)
        return new

    async def _update_step(self, step: dict[str, Any], changes: dict[str, Any], event: str | None) -> dict[str, Any]:
        new = await self.app.storage.update_step(step["thread_id"], step["run_id"], step["id"], changes)
        new = new or {**step, **changes}
        if event:
            self._publish(step["run_id"], event, new)
        return new

    async def _update_message(self, message: dict[str, Any], changes: dict[str, Any], event: str) -> dict[str, Any]:
        new = await self.app.storage.update_message(message["thread_id"], message["id"], changes)
        new = new or {**message, **changes}
        self._publish(message["run_id"], event, new)
        return new

    @staticmethod
    def _new_step(run: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
        return {"id": new_id("step"), "object": "thread.run.step", "created_at": now(), "run_id": run["id"],
                "assistant_id": run["assistant_id"], "thread_id": run["thread_id"], "type": details["type"],
                "status": "in_progress", "cancelled_at": None, "completed_at": None, "expired_at": None,
                "failed_at": None, "last_error": None, "step_details": details, "usage": None, "metadata": None}

    def _step_delta(self, run_id: str, step_id: str, call: dict[str, Any]) -> None:
        """Publish a ``thread.run.step.delta`` of one tool call's entry (``{index, type, ...}``)."""
        self._publish(run_id, "thread.run.step.delta", {
            "id": step_id, "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls", "tool_calls": [call]}}})

    def _publish_step(self, step: dict[str, Any]) -> None:
        self._publish(step["run_id"], "thread.run.step.created", step)
        self._publish(step["run_id"], "thread.run.step.in_progress", step)

    async def _create_tool_step(self, run: dict[str, Any], turn: _Turn) -> None:
        turn.tool_step = self._new_step(run, {"type": "tool_calls", "tool_calls": []})
        turn.tool_step = await self.app.storage.create_step(turn.tool_step)
        self._publish_step(turn.tool_step)

    # -- life cycle -----------------------------------------------------------------------------
    def start(self, run: dict[str, Any], resumed_steps: list[dict[str, Any]] | None = None) -> None:
        """Execute a queued run in the background (on the core loop)."""
        run_id = run["id"]
        self._unfinished[run_id] = run["thread_id"]
        task = asyncio.get_running_loop().create_task(self._execute(run, resumed_steps or []))
        self._tasks[run_id] = task
        _loop.hold_while_running(task)  # a run whose App nobody references any more still finishes

        def forget(done: asyncio.Task[None]) -> None:
            if self._tasks.get(run_id) is done:
                del self._tasks[run_id]

        task.add_done_callback(forget)
        self.watch()

    def watch(self) -> None:
        """Start the heartbeat and sweep of the App's leases (its runs and jobs, see
        ``supercompat.jobs.keep_leases``) on the running loop, if not running yet. The App calls it on
        every request: a process serving it also sweeps while idle. Nothing once the App is closing:
        ``App.aclose`` stops the heartbeat for good, before the storage closes."""
        if self.app.closing:
            return
        loop = asyncio.get_running_loop()
        if self._heartbeat is None or self._heartbeat.done() or self._heartbeat.get_loop() is not loop:
            self._heartbeat = loop.create_task(keep_leases(weakref.ref(self)))

    async def stop_watching(self, grace: float = 1.0) -> None:
        """Stop the heartbeat and sweep (``App.aclose``, once the runs and jobs have shut down), and
        give a beat under way up to ``max(grace, 1)`` seconds to unwind, so that it is over before the
        storage closes."""
        heartbeat = self._heartbeat
        if heartbeat is not None and not heartbeat.done():
            heartbeat.cancel()
            if heartbeat.get_loop() is asyncio.get_running_loop():
                await asyncio.wait([heartbeat], timeout=max(grace, 1.0))

    def is_executing(self, run_id: str) -> bool:
        task = self._tasks.get(run_id)
        return task is not None and not task.done()

    def cancel_execution(self, run_id: str) -> None:
        """Abort the run's model turn, if one is in flight (see ``_Turn``). The run's task itself is
        never cancelled: it sees the ``cancelling`` status (or the aborted turn) and records the ending."""
        turn = self._turns.get(run_id)
        if turn is not None:
            turn.abort()

    async def _execute(self, run: dict[str, Any], resumed_steps: list[dict[str, Any]]) -> None:
        turn = _Turn()
        run_id = run["id"]
        self._turns[run_id] = turn  # from now on a cancel aborts the turn, even one not started yet
        resumed = run["started_at"] is not None
        try:
            run = await self.transition(run, {"status": "in_progress", "started_at": run["started_at"] or now()},
                                        "thread.run.in_progress", frozenset({"queued"}))
            for step in resumed_steps:
                self._publish(run_id, "thread.run.step.completed", step)
            turn.task = asyncio.get_running_loop().create_task(self._segment(run, turn, resumed))
            await turn.task
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise  # the loop itself is shutting down
            if self._shutdown_error is not None:  # aborted by shutdown(), not by a user's cancel
                await self._finish(run, turn, "failed", self._shutdown_error)
            else:
                await self._finish(run, turn, "cancelled")
        except StaleStatusError as stale:
            # Someone else moved the run: a cancel (finish it their way), or a delete (just stop).
            if stale.current.get("status") == "cancelling":
                await self._finish(run, turn, "cancelled")
        except Exception as err:  # provider failures and our own bugs alike end the run, never hang it
            if await self.app.storage.get_run(run["thread_id"], run_id) is None:
                self._unfinished.pop(run_id, None)
                return  # the thread was deleted under the run
            if not isinstance(err, APIError):
                log.exception("supercompat: run %s failed", run_id)
            elif err.status >= 500:  # its last_error is redacted for clients; the log keeps the detail
                log.warning("supercompat: run %s failed: %s", run_id, err)
            await self._finish(run, turn, "failed", err)
        finally:
            self._turns.pop(run_id, None)
            self._end_segment(run_id)

    async def _finish(self, run: dict[str, Any], turn: _Turn, status: str, err: BaseException | None = None,
                      expected: frozenset[str] = ACTIVE_RUN_STATUSES) -> None:
        """End the run ``cancelled`` or ``failed``, closing whatever the turn had opened."""
        t = now()
        try:
            await self._show_images(run, turn)
        except Exception:  # the run's ending matters more: record it anyway
            log.exception("supercompat: could not keep the images of run %s", run["id"])
        try:
            if turn.message is not None and turn.message["status"] == "in_progress":
                reason = "run_cancelled" if status == "cancelled" else "run_failed"
                self._flush_text(run["id"], turn)
                await self._update_message(turn.message, {"status": "incomplete", "incomplete_at": t,
                                                          "incomplete_details": {"reason": reason},
                                                          "content": self._content(turn)}, "thread.message.incomplete")
            step_status = "cancelled" if status == "cancelled" else "failed"
            for step in (turn.message_step, turn.tool_step):
                if step is not None and step["status"] == "in_progress":
                    changes: dict[str, Any] = {"status": step_status, f"{step_status}_at": t}
                    if step is turn.tool_step and turn.calls:  # the calls made so far, as far as they got
                        changes["step_details"] = {"type": "tool_calls", "tool_calls": turn.calls}
                    if err is not None:
                        changes["last_error"] = last_error(err)
                    await self._update_step(step, changes, f"thread.run.step.{step_status}")
            changes = {"status": status, f"{status}_at": t, "expires_at": None, "required_action": None}
            if err is not None:
                changes["last_error"] = last_error(err)
            await self.transition(run, changes, f"thread.run.{status}", expected)
        except StaleStatusError:
            pass  # already terminal: never overwrite a terminal state
        except Exception:
            log.exception("supercompat: could not record the end of run %s", run["id"])

    # -- the assistant message ------------------------------------------------------------------
    @staticmethod
    def _text_part(turn: _Turn) -> dict[str, Any]:
        return {"type": "text", "text": {"value": "".join(turn.text), "annotations": list(turn.notes)}}

    @staticmethod
    def _content(turn: _Turn) -> list[dict[str, Any]]:
        if not turn.text:
            return list(turn.parts)
        return [*turn.parts, RunEngine._text_part(turn)]

    def _message_delta(self, run_id: str, turn: _Turn, content: dict[str, Any]) -> None:
        self._publish(run_id, "thread.message.delta", {"id": turn.message["id"],  # type: ignore[index]
                                                       "object": "thread.message.delta",
                                                       "delta": {"content": [content]}})

    def _annotated_text(self, run_id: str, turn: _Turn, event: TextDelta) -> None:
        """The text path when markers may be annotated or the adapter sent annotations: text that may
        start a marker is held back until the marker completes (or can't), so each annotation is
        published whole, with the indexes the stored message will have."""
        if event.annotations:
            offset = sum(map(len, turn.text)) + len(turn.held)
            turn.held_notes.extend({**a, "start_index": a["start_index"] + offset,
                                    "end_index": a["end_index"] + offset} for a in event.annotations)
        buffer = turn.held + event.text
        keep = max((annotator.hold(buffer) for annotator in turn.annotators or ()), default=0)
        turn.held = buffer[len(buffer) - keep:] if keep else ""
        self._emit_text(run_id, turn, buffer[:len(buffer) - keep])

    def _flush_text(self, run_id: str, turn: _Turn) -> None:
        """Publish what was held back: the text part is ending."""
        if turn.held or turn.held_notes:
            text, turn.held = turn.held, ""
            self._emit_text(run_id, turn, text, final=True)

    def _emit_text(self, run_id: str, turn: _Turn, text: str, final: bool = False) -> None:
        start = sum(map(len, turn.text))
        found = sorted((marker for annotator in turn.annotators or () for marker in annotator.find(text)),
                       key=lambda marker: marker[0])
        if any(annotation is None for _, _, annotation in found):
            text, found, turn.held_notes = _without_made_up_markers(text, start, found, turn.held_notes)
        notes = [{**annotation, "start_index": start + s, "end_index": start + e}
                 for s, e, annotation in found if annotation is not None]
        end = start + len(text)
        if turn.held_notes:
            ready = [n for n in turn.held_notes if final or n["end_index"] <= end]
            turn.held_notes = [n for n in turn.held_notes if not (final or n["end_index"] <= end)]
            notes = sorted([*notes, *ready], key=lambda n: n["start_index"])
        if not text and not notes:
            return
        body: dict[str, Any] = {"value": text}
        if notes or not turn.text:
            body["annotations"] = [{"index": len(turn.notes) + i, **note} for i, note in enumerate(notes)]
        turn.text.append(text)
        turn.notes.extend(notes)
        self._message_delta(run_id, turn, {"index": len(turn.parts), "type": "text", "text": body})

    def _add_image(self, run_id: str, turn: _Turn, file_id: str) -> None:
        """An ``image_file`` part after what the message has so far (the text part so far ends)."""
        self._flush_text(run_id, turn)
        if turn.text:
            turn.parts.append(self._text_part(turn))
            turn.text, turn.notes = [], []
        part = {"type": "image_file", "image_file": {"file_id": file_id}}
        turn.parts.append(part)
        self._message_delta(run_id, turn, {"index": len(turn.parts) - 1, **part})

    def _annotators(self, turn: _Turn) -> list[Any] | None:
        """The annotators of the run's built-in tools, given the calls it has made of each so far (a
        tool may annotate before any: file_search removes the markers a model writes without having
        searched); None if there are none."""
        found = []
        kinds = dict.fromkeys([*(b.executor.type for b in turn.bound.values()), *turn.executed])
        for kind in kinds:
            make = getattr(self.app.tools.get(kind), "annotator", None)
            annotator = make(list(turn.executed.get(kind, ()))) if make is not None else None
            if annotator is not None:
                found.append(annotator)
        return found or None

    async def _open_message(self, run: dict[str, Any], turn: _Turn) -> dict[str, Any]:
        """Open the turn's assistant message (and its step), announce it, and return it."""
        message: dict[str, Any] = {"id": new_id("msg"), "object": "thread.message", "created_at": now(),
                   "assistant_id": run["assistant_id"], "thread_id": run["thread_id"], "run_id": run["id"],
                   "role": "assistant", "content": [], "attachments": [], "metadata": {},
                   "status": "in_progress", "incomplete_details": None, "completed_at": None,
                   "incomplete_at": None}
        # The step is announced first, as on OpenAI, but stored second: it points at the message,
        # which therefore always exists. The turn holds both before storage does, so an ending after
        # an ambiguous failure of either write still closes them.
        turn.parts, turn.text, turn.notes, turn.held, turn.held_notes = [], [], [], "", []
        turn.annotators = self._annotators(turn) if turn.executed or turn.bound else None
        turn.message = message
        turn.message_step = self._new_step(run, {"type": "message_creation",
                                                 "message_creation": {"message_id": message["id"]}})
        turn.message = message = await self.app.storage.create_message(message)
        turn.message_step = await self.app.storage.create_step(turn.message_step)
        self._publish_step(turn.message_step)
        self._publish(run["id"], "thread.message.created", turn.message)
        self._publish(run["id"], "thread.message.in_progress", turn.message)
        if turn.images:  # what the run's tools made, shown first in the message that follows them
            images, turn.images = turn.images, []
            for file_id in images:
                self._add_image(run["id"], turn, file_id)
        return message

    async def _show_images(self, run: dict[str, Any], turn: _Turn) -> None:
        """As the run ends (incomplete, failed, cancelled): images its tools made that no message shows
        yet get one of their own, which the ending closes ``incomplete`` with the run's reason."""
        if turn.images:  # pending images mean no message is open: opening one takes them
            await self._open_message(run, turn)

    async def _close_message(self, turn: _Turn, usage: dict[str, int] | None, incomplete: bool = False) -> None:
        if turn.message is None or turn.message_step is None or turn.message["status"] != "in_progress":
            return
        t = now()
        if incomplete:
            changes = {"status": "incomplete", "incomplete_at": t, "incomplete_details": {"reason": "max_tokens"}}
            event = "thread.message.incomplete"
        else:
            changes = {"status": "completed", "completed_at": t}
            event = "thread.message.completed"
        self._flush_text(turn.message["run_id"], turn)
        turn.message = await self._update_message(turn.message, {**changes, "content": self._content(turn)}, event)
        turn.message_step = await self._update_step(turn.message_step, {"status": "completed", "completed_at": t,
                                                                         "usage": usage}, "thread.run.step.completed")

    # -- one segment: model turns, and the built-in tools they call ------------------------------
    async def _segment(self, run: dict[str, Any], turn: _Turn, resumed: bool) -> None:
        """Model turns until the run ends or waits for the user's functions: after a turn whose calls
        were all built-in, the engine has run them and asks the model again."""
        if self.app.tools:
            turn.bound = bind(self.app.tools, run)
            if turn.bound and resumed:
                await self._recall_builtin_calls(run, turn)
        while (continued := await self._turn(run, turn)) is not None:
            run = continued
            if turn.round + 1 >= self.max_tool_rounds:
                raise ServerError(f"The model called built-in tools {turn.round + 1} times in a row without "
                                  f"answering (RunEngine.max_tool_rounds); the run was stopped.")
            turn.next_round()

    async def _recall_builtin_calls(self, run: dict[str, Any], turn: _Turn) -> None:
        """A resumed run's built-in calls of earlier segments, which its annotators resolve markers to."""
        annotating = {b.executor.type for b in turn.bound.values() if hasattr(b.executor, "annotator")}
        if not annotating:
            return
        steps = await self.app.storage.list_steps(run["thread_id"], run["id"],
                                                  ListQuery(limit=EVERYTHING, order="asc"))
        for _, call, _ in completed_tool_calls(steps.data):
            if call["type"] in annotating:
                turn.executed.setdefault(call["type"], []).append(call)

    async def _turn(self, run: dict[str, Any], turn: _Turn) -> dict[str, Any] | None:
        """One model turn; the run as it now is if the segment goes on with another."""
        ctx = RunContext(run=run, storage=_TurnStorage.of(self.app.storage, turn), client=self.app.client,
                         usage=dict(run.get("usage") or {}), tools=turn.bound, executors=self.app.tools,
                         round=turn.round, blobs=self.app.blobs)
        end: TurnEnd | None = None
        run_id = run["id"]
        events = aiter(self.app.run_adapter.run_turn(ctx))
        while True:
            try:
                event = await turn.next_event(events)
            except StopAsyncIteration:
                break
            if type(event) is TextDelta:
                message = turn.message
                if message is None or message["status"] != "in_progress":
                    message = await self._open_message(run, turn)
                if turn.annotators is None and not event.annotations:  # the plain path
                    body: dict[str, Any] = {"value": event.text}
                    if not turn.text:
                        body["annotations"] = []
                    turn.text.append(event.text)
                    self._publish(run_id, "thread.message.delta", {
                        "id": message["id"], "object": "thread.message.delta",
                        "delta": {"content": [{"index": len(turn.parts), "type": "text", "text": body}]}})
                else:
                    self._annotated_text(run_id, turn, event)
                if run_id in self._subscribers:
                    # A pass through the loop releases the GIL: when the provider has sent the whole
                    # answer at once, the loop would otherwise run it all through before the thread
                    # parsing the stream for its reader gets a turn.
                    await asyncio.sleep(0)
            elif type(event) is ToolCallDelta:
                if turn.tool_step is None:
                    await self._close_message(turn, None)
                    await self._create_tool_step(run, turn)
                fragment = self._call_delta(turn, event)
                if fragment is not None:
                    self._step_delta(run_id, turn.tool_step["id"], fragment)  # type: ignore[index]
            elif type(event) is ImageFile:
                if turn.message is None or turn.message["status"] != "in_progress":
                    await self._open_message(run, turn)
                self._add_image(run_id, turn, event.file_id)
            elif type(event) is TurnEnd:
                end = event
        if turn.aborted:  # while the last events were persisted: the turn ends aborted, not completed
            raise asyncio.CancelledError
        if end is None:
            raise APIError("The run adapter ended a turn without a TurnEnd.", status=500, type="server_error")
        return await self._end_turn(run, turn, end)

    @staticmethod
    def _call_delta(turn: _Turn, event: ToolCallDelta) -> dict[str, Any] | None:
        """Record a piece of a tool call; the step delta entry to publish for it, if any. A built-in
        call is announced with its own type; its arguments are the engine's business, not shown."""
        index = event.index
        if index == len(turn.calls):
            call_id = event.id or new_id("call")
            builtin = turn.bound.get(event.name or "") if turn.bound else None
            if builtin is not None:
                kind = builtin.executor.type
                turn.calls.append({"id": call_id, "type": kind, kind: {}})
                turn.builtins[index] = entry = _BuiltinCall(builtin)
                return {"index": index, "id": call_id, "type": kind, kind: entry.grow(event.arguments) or {}}
            function = {"name": event.name or "", "arguments": event.arguments, "output": None}
            call: dict[str, Any] = {"id": call_id, "type": "function", "function": function}
            turn.calls.append(call)
            return {"index": index, **call, "function": dict(call["function"])}
        if index in turn.builtins:
            fragment = turn.builtins[index].grow(event.arguments)
            if fragment is None:
                return None
            kind = turn.calls[index]["type"]
            return {"index": index, "type": kind, kind: fragment}
        turn.calls[index]["function"]["arguments"] += event.arguments
        return {"index": index, "type": "function", "function": {"arguments": event.arguments}}

    async def _run_builtins(self, run: dict[str, Any], turn: _Turn) -> None:
        """Execute the turn's built-in calls in call order, publishing their step deltas; each call's
        body becomes its result's details."""
        storage = _TurnStorage.of(self.app.storage, turn)
        step_id = turn.tool_step["id"]  # type: ignore[index]
        for index, entry in turn.builtins.items():
            call, builtin = turn.calls[index], entry.builtin
            kind = call["type"]
            context = ToolContext(run=run, tool=builtin.tool, storage=storage, client=self.app.client,
                                  app=self.app)
            events = aiter(builtin.executor.execute(ToolCall(call["id"], entry.arguments), context))
            result: ToolResult | None = None
            while True:
                try:
                    event = await turn.next_event(events)
                except StopAsyncIteration:
                    break
                if type(event) is ToolDelta:
                    self._step_delta(run["id"], step_id, {"index": index, "type": kind, kind: event.fragment})
                elif type(event) is ToolResult:
                    result = event
            if turn.aborted:
                raise asyncio.CancelledError
            if result is None:
                raise APIError(f"The {kind} tool ended without a result.", status=500, type="server_error")
            call[kind] = result.details
            turn.images.extend(result.images)
            turn.executed.setdefault(kind, []).append(call)

    async def _end_turn(self, run: dict[str, Any], turn: _Turn, end: TurnEnd) -> dict[str, Any] | None:
        """Record how the model's turn ended; the run as it now is if the segment goes on (the turn
        called only built-in tools, which have run), else None."""
        usage = end.usage and {k: end.usage.get(k, 0) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        total = dict(run.get("usage") or {})
        if usage:
            total = {k: total.get(k, 0) + usage[k] for k in usage}
        total_or_none = total or None
        limit_prompt = run.get("max_prompt_tokens")
        reason = None
        if end.finish_reason == "length":
            reason = "max_completion_tokens"
        elif limit_prompt and total.get("prompt_tokens", 0) > limit_prompt:
            reason = "max_prompt_tokens"
        t = now()
        expected = frozenset({"in_progress"})
        if reason is not None:
            await self._show_images(run, turn)
            await self._close_message(turn, usage, incomplete=True)
            if turn.tool_step is not None:
                details = {"type": "tool_calls", "tool_calls": turn.calls}
                await self._update_step(turn.tool_step, {"status": "cancelled", "cancelled_at": t, "usage": usage,
                                                         "step_details": details}, "thread.run.step.cancelled")
            await self.transition(run, {"status": "incomplete", "incomplete_details": {"reason": reason},
                                         "usage": total_or_none, "expires_at": None}, "thread.run.incomplete", expected)
        elif turn.calls:
            await self._close_message(turn, None)
            if turn.builtins:
                await self._run_builtins(run, turn)
            details = {"type": "tool_calls", "tool_calls": turn.calls}
            functions = [c for c in turn.calls if c["type"] == "function"]
            if not functions:  # all built-in, all answered: the model goes on
                turn.tool_step = await self._update_step(turn.tool_step, {  # type: ignore[arg-type]
                    "status": "completed", "completed_at": now(), "step_details": details, "usage": usage},
                    "thread.run.step.completed")
                return await self.transition(run, {"usage": total_or_none}, None, expected)
            if turn.images:  # a message for them now: the round resumes with a new turn
                await self._open_message(run, turn)
                await self._close_message(turn, None)
            turn.tool_step = await self._update_step(turn.tool_step, {  # type: ignore[arg-type]
                "step_details": details, "usage": usage}, None)
            expires_at = t + self.requires_action_ttl
            required = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
                {"id": c["id"], "type": "function",
                 "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
                for c in functions]}}
            await self.transition(run, {"status": "requires_action", "required_action": required,
                                         "expires_at": expires_at, "usage": total_or_none},
                                   "thread.run.requires_action", expected)
            asyncio.get_running_loop().call_later(self.requires_action_ttl + 0.5, self._schedule_expiry, run)
        else:
            if turn.message is None:
                await self._open_message(run, turn)
            await self._close_message(turn, usage)
            await self.transition(run, {"status": "completed", "completed_at": t, "usage": total_or_none,
                                         "expires_at": None, "required_action": None}, "thread.run.completed", expected)
        return None

    # -- executors that died (the runs' leases, see supercompat.jobs) ------------------------------
    def holds_leases(self) -> bool:
        return bool(self._tasks) or self.app.jobs.holds_leases()

    async def beat(self, sweep: bool) -> None:
        """Heartbeat the runs executing here and the jobs running here (picking up cancels made by
        other processes); with ``sweep``, claim and finish the runs and jobs of processes that stopped
        heartbeating, unless the App is closing: it would have nothing left to finish them with."""
        sweep = sweep and not self.app.closing
        await renew_and_reclaim(self.app.storage, [_RunLeases(self), *self.app.jobs.holders()],
                                time.time() - self.orphan_after if sweep else None)

    async def end_orphans(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        """End the runs whose executor stopped heartbeating (a crashed or killed process), of thread
        ``thread_id`` if given: failed, or cancelled if a cancel was pending. Returns them as they now
        are. Each is claimed first, so of two processes looking at once only one ends it."""
        ended = []
        for run in await self.app.storage.claim_lapsed(RUN_LEASE, time.time() - self.orphan_after,
                                                       scope=thread_id):
            if await self._end_orphan(run):
                ended.append(await self.app.storage.get_run(run["thread_id"], run["id"]) or run)
        return ended

    async def _end_orphan(self, run: dict[str, Any]) -> bool:
        if self.is_executing(run["id"]):
            return False  # ours, and alive (its heartbeat failed for a while): the claim renewed it
        await self._abandon(run, APIError(
            f"The run was interrupted: the process executing it stopped (no heartbeat for "
            f"{self.orphan_after:g} seconds).", status=500, type="server_error"))
        return True

    async def _abandon(self, run: dict[str, Any], err: APIError) -> None:
        """End a run nobody executes any more: ``cancelled`` if a cancel was pending, else ``failed``
        with ``err``; its open message becomes incomplete and its open steps end too."""
        status = "cancelled" if run["status"] == "cancelling" else "failed"
        turn = _Turn()
        for message in (await self.app.storage.list_messages(run["thread_id"], ListQuery(limit=100),
                                                             run_id=run["id"])).data:
            if message["status"] == "in_progress":
                turn.message = message
        await self._finish(run, turn, status, None if status == "cancelled" else err,
                           expected=EXECUTING_RUN_STATUSES)
        await self.close_tool_steps(run, status, now())

    async def past_orphans(self, thread_id: str, write: Any) -> Any:
        """``await write()``; if a run blocks it (ActiveRunError) whose executor died, or that is past
        its ``expires_at`` with no timer left to expire it (its process stopped), end that run and
        try once more."""
        try:
            return await write()
        except ActiveRunError as blocked:
            run = await self.app.storage.get_run(thread_id, blocked.run_id)
            if run is not None and (await self.settle(run))["status"] in ACTIVE_RUN_STATUSES:
                raise
        return await write()

    async def settle(self, run: dict[str, Any]) -> dict[str, Any]:
        """On access: expire a run past its ``expires_at``; end one whose executor died."""
        return (await self.settle_runs(run["thread_id"], [run]))[0]

    async def settle_runs(self, thread_id: str, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``settle`` for runs of one thread, as read: one look for the thread's orphans at most."""
        ended: dict[str, dict[str, Any]] = {}
        if any(r["status"] in EXECUTING_RUN_STATUSES and not self.is_executing(r["id"]) for r in runs):
            ended = {r["id"]: r for r in await self.end_orphans(thread_id)}
        settled = []
        for run in runs:
            run = ended.get(run["id"], run)
            if run["status"] == "requires_action" and (run["expires_at"] or 0) <= time.time():
                run = await self.expire_if_due(thread_id, run["id"], run) or run
            settled.append(run)
        return settled

    # -- expiry ---------------------------------------------------------------------------------
    def _schedule_expiry(self, run: dict[str, Any]) -> None:
        asyncio.get_running_loop().create_task(self.expire_if_due(run["thread_id"], run["id"]))

    async def expire_if_due(self, thread_id: str, run_id: str,
                            run: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """A run left in ``requires_action`` past ``expires_at`` becomes ``expired``."""
        storage = self.app.storage
        run = run or await storage.get_run(thread_id, run_id)
        if run is None:
            self._unfinished.pop(run_id, None)
            return None
        if run["status"] != "requires_action" or (run["expires_at"] or 0) > time.time():
            return run
        t = now()
        try:
            run = await self.transition(run, {"status": "expired", "expires_at": None, "required_action": None},
                                         "thread.run.expired", frozenset({"requires_action"}))
        except StaleStatusError as stale:
            return stale.current
        await self.close_tool_steps(run, "expired", t)
        return run

    async def close_tool_steps(self, run: dict[str, Any], status: str, t: int) -> None:
        steps = await self.app.storage.list_steps(run["thread_id"], run["id"], ListQuery(limit=100, order="desc"))
        for step in steps.data:
            if step["status"] == "in_progress":
                await self._update_step(step, {"status": status, f"{status}_at": t}, f"thread.run.step.{status}")

    # -- shutdown -------------------------------------------------------------------------------
    async def shutdown(self, grace: float) -> None:
        """Let executing runs finish for up to ``grace`` seconds, then end every run still executing
        here as ``failed`` with a last_error saying why (``cancelled`` if a cancel was pending): a
        run is never left ``in_progress`` behind a stopped server. Runs in ``requires_action`` wait on.

        Aborted runs get ``max(grace, 1)`` more seconds to record their ending; a run still busy
        after that (in a storage call that hangs) has its task cancelled, the one place the engine
        may cut a storage call off, and up to ``max(grace, 1)`` seconds to unwind before it is
        ended from outside. The heartbeat goes on meanwhile (the runs and jobs still going keep their
        leases); ``App.aclose`` stops it once the jobs have shut down too."""
        running = [t for t in self._tasks.values() if not t.done()]
        if running:
            await asyncio.wait(running, timeout=grace)
        self._shutdown_error = ServerError("The server shut down before the run finished.")
        for run_id in list(self._turns):
            self.cancel_execution(run_id)  # the run's task records the failure, closing its turn
        running = [t for t in self._tasks.values() if not t.done()]
        if running:
            await asyncio.wait(running, timeout=max(grace, 1.0))
        stuck = [t for t in running if not t.done()]
        for task in stuck:
            task.cancel()  # the last resort: this one may cut a storage call off
        if stuck:
            # Let them unwind (a storage call may finish before it passes the cancel on) before
            # _abandon writes the same runs: one writer per run at a time.
            await asyncio.wait(stuck, timeout=max(grace, 1.0))
        for run_id, thread_id in list(self._unfinished.items()):
            run = await self.app.storage.get_run(thread_id, run_id)
            # A run waiting in requires_action has nothing in flight: it stays, so tool outputs sent
            # after a restart (or to another worker on the same database) still complete it.
            if run is not None and run["status"] in EXECUTING_RUN_STATUSES:
                await self._abandon(run, self._shutdown_error)
        self._unfinished.clear()


def _without_made_up_markers(text: str, start: int, found: list[tuple[int, int, dict[str, Any] | None]],
                             held_notes: list[dict[str, Any]]) -> tuple[str, list[Any], list[dict[str, Any]]]:
    """``text`` without the markers that resolve to nothing (``found`` entries without an annotation),
    and the other markers and the adapter's pending annotations (``held_notes``, indexed within the
    whole message, whose text so far ends at ``start``) moved to where they now are."""
    cuts = [(s, e) for s, e, annotation in found if annotation is None]

    def moved(i: int) -> int:  # a position of ``text`` (or after it) once the cuts are gone
        return i - sum(min(e, i) - s for s, e in cuts if s < i)

    kept = "".join(text[e:s] for (_, e), (s, _) in zip([(0, 0), *cuts], [*cuts, (len(text), 0)], strict=True))
    markers = [(moved(s), moved(e), annotation) for s, e, annotation in found if annotation is not None]
    def shifted(i: int) -> int:  # a position of the message
        return i if i < start else start + moved(i - start)

    notes = [{**n, "start_index": shifted(n["start_index"]), "end_index": shifted(n["end_index"])}
             for n in held_notes]
    # a note lying wholly inside a removed marker has nothing left to annotate
    return kept, markers, [n for n in notes if n["end_index"] > n["start_index"]]


class _RunLeases:
    """The runs executing here as the lease machinery sees them (supercompat.jobs). A run's lease lives
    on its own row, renewed by create_run and every update_run: a run costs no writes of its own."""

    kind = RUN_LEASE

    def __init__(self, engine: RunEngine) -> None:
        self.engine = engine

    def held(self) -> Collection[str]:
        return list(self.engine._tasks)

    def cancel(self, run_id: str) -> None:  # made by another process: abort the model call
        self.engine.cancel_execution(run_id)

    async def reclaim(self, run: dict[str, Any]) -> None:
        await self.engine._end_orphan(run)
