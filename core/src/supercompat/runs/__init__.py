"""Runs: the RunAdapter contract, its typed events, and the built-in ``completions`` run adapter.

A run adapter executes one model turn of a run: it reads the thread (through the storage adapter,
read-only), calls the client adapter, and yields typed events. The RunEngine (``runs.engine``)
persists what those events mean (messages, steps, statuses) and publishes the Assistants stream
events they make (:class:`StreamEvent`), which the API layer frames as SSE; adapters never write
storage.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..blobs import BlobStore
    from ..clients import ClientAdapter
    from ..storage import StorageAdapter
    from ..tools import BuiltinTool, ToolExecutor


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the assistant's message text. ``annotations`` (``file_citation``, ``file_path``)
    carry ``start_index``/``end_index`` relative to ``text``; the engine makes them absolute within
    the message's text and numbers them as OpenAI's stream does."""

    text: str
    annotations: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ImageFile:
    """An ``image_file`` content part of the assistant's message (a file id of the files API)."""

    file_id: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call: a user function's, or a built-in tool's function (the engine tells them
    apart by ``name``). The first delta of an ``index`` carries ``id`` and ``name``; later ones carry
    only more ``arguments``."""

    index: int
    arguments: str = ""
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class TurnEnd:
    """The model's turn is over. ``finish_reason`` is the chat-completions one (``stop``,
    ``tool_calls``, ``length``, ``content_filter``); ``usage`` its token counts, if reported."""

    finish_reason: str
    usage: dict[str, int] | None = None


RunEvent = TextDelta | ImageFile | ToolCallDelta | TurnEnd


class StreamEvent:
    """One event of a run's stream as the engine publishes it to every stream subscribed to the run:
    its ``event`` name (``thread.message.delta``, ``thread.run.completed``...) and ``data``, the OpenAI
    object, which nobody changes once published. ``wire`` is for the API layer: the event's encoding
    for the wire, made by whichever stream sends it first and reused by the others, so an event is
    framed once however many streams send it (see ``supercompat.router.frame``)."""

    __slots__ = ("event", "data", "wire")

    def __init__(self, event: str, data: Any) -> None:
        self.event = event
        self.data = data
        self.wire: bytes | None = None

    def __repr__(self) -> str:
        return f"StreamEvent({self.event!r})"


@dataclass(slots=True)
class RunContext:
    """What a run adapter may use: the run as stored, the storage adapter (to read the thread) and
    the client adapter. ``usage`` is what earlier turns of this run have used so far.

    ``tools`` are the run's built-in tools by function name (:class:`supercompat.tools.BuiltinTool`):
    offer their functions beside the user's; the engine executes the calls. ``executors`` are every
    tool executor of the App by type, to replay stored calls of any run (``executor.replay``).
    ``round`` counts the model turns this segment has had before this one: a forced ``tool_choice``
    applies to round 0 only (each segment's first turn: after every ``submit_tool_outputs`` too), so a
    forced built-in tool is called once per segment, not forever.

    ``blobs`` is the App's blob store (:class:`supercompat.blobs.BlobStore`), to read the bytes of the
    files the thread refers to (a user message's ``image_file`` parts: the bytes of file ``file-…``
    are under its id); read-only, like storage. None where there is none (an adapter tested alone).
    Ask :meth:`file` first whether the run may read a file at all."""

    run: dict[str, Any]
    storage: StorageAdapter
    client: ClientAdapter | None  # None: the App has no client adapter
    usage: dict[str, int] = field(default_factory=dict)
    tools: dict[str, BuiltinTool] = field(default_factory=dict)
    executors: dict[str, ToolExecutor] = field(default_factory=dict)
    round: int = 0
    blobs: BlobStore | None = None
    _project: tuple[str | None] | None = field(default=None, init=False, repr=False, compare=False)

    async def file(self, file_id: str) -> dict[str, Any] | None:
        """The metadata of file ``file_id`` (``storage.get_file``) if the run may read its bytes: the
        file exists, belongs to the project of the run's thread and has not expired
        (:func:`supercompat.files.usable`); None otherwise, whatever the reason, as for a file that
        does not exist. A message names only files that were usable when it was written; this
        checks again when a run reads them."""
        from ..files import usable

        file = await self.storage.get_file(file_id)
        if file is None:
            return None
        if self._project is None:  # the thread's project, read once per turn
            thread = await self.storage.get_thread(self.run["thread_id"])
            if thread is None:  # deleted under the run: nothing of it may be read
                return None
            self._project = (thread.get("project"),)
        return file if usable(file, self._project[0], time.time()) else None


@runtime_checkable
class RunAdapter(Protocol):
    def run_turn(self, context: RunContext) -> AsyncIterator[RunEvent]:
        """Yield the events of one model turn, ending with exactly one TurnEnd. Provider failures
        are raised as :class:`supercompat.errors.APIError`."""


def completed_tool_calls(steps: Iterable[dict[str, Any]]
                         ) -> Iterator[tuple[dict[str, Any], dict[str, Any], int | None]]:
    """Every call of the completed ``tool_calls`` steps among ``steps``, in order, as ``(step, call,
    ordinal)``: ``ordinal`` is a built-in call's position among its run's calls of its type so far (what
    ``ToolExecutor.replay`` and annotators number calls by), None for a user function's call."""
    seen: dict[tuple[str, str], int] = {}  # (run, built-in type) -> its calls so far
    for step in steps:
        if step["type"] != "tool_calls" or step["status"] != "completed":
            continue
        for call in step["step_details"]["tool_calls"]:
            kind = call["type"]
            if kind == "function":
                yield step, call, None
                continue
            key = (step["run_id"], kind)
            ordinal = seen[key] = seen.get(key, -1) + 1
            yield step, call, ordinal


def completions_run_adapter() -> RunAdapter:
    """Runs over the client adapter's chat-completions interface: works with every provider."""
    from .completions import CompletionsRunAdapter

    return CompletionsRunAdapter()


__all__ = ["ImageFile", "RunAdapter", "RunContext", "RunEvent", "StreamEvent", "TextDelta", "ToolCallDelta",
           "TurnEnd",
           "completed_tool_calls", "completions_run_adapter"]
