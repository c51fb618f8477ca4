"""Built-in (server-side) tools: the contract a tool executor fulfils for the run engine.

A built-in tool is one the engine runs itself inside a run (``file_search``, ``code_interpreter``, or
one a plugin registers), as opposed to a user ``function``, which ends the run segment in
``requires_action``. The model sees each built-in tool as a function (``ToolExecutor.function``); a
call to it becomes a ``tool_calls`` step entry of the executor's ``type``, whose body is whatever the
executor's ``ToolResult.details`` says, stored exactly in OpenAI's shape.

The model is shown the round again on later turns (and in later runs) from the stored step alone,
through ``ToolExecutor.replay``: no hidden fields in stored steps, one source for what the model saw.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .app import App
    from .clients import ClientAdapter
    from .storage import StorageAdapter


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call of a built-in tool as the model made it: its step entry's ``id`` and the JSON
    ``arguments`` of the executor's function."""

    id: str
    arguments: str


@dataclass(slots=True)
class ToolContext:
    """What an executor may use: the run as stored, ``tool`` (the run's ``tools`` entry of this type,
    e.g. ``{"type": "file_search", "file_search": {...}}``), the storage adapter (reads only; the
    engine persists the step), the client adapter, and the App, for the services a tool needs
    (``app.vector_stores``, ``app.sandbox``, ``app.blobs``; files are stored with
    :func:`supercompat.files.store_file`). Storage reads go through ``storage``: a cancel never cuts
    them off half-way, while one through ``app.storage`` may be."""

    run: dict[str, Any]
    tool: dict[str, Any]
    storage: StorageAdapter
    client: ClientAdapter | None  # None: the App has no client adapter
    app: App | None = None  # the App running the run; None for an executor tested alone


@dataclass(frozen=True, slots=True)
class ToolDelta:
    """A fragment of the call's body (what sits under its type key), published at once as a
    ``thread.run.step.delta`` ``{index, type, <type>: fragment}``. The openai SDK accumulates
    fragments: strings concatenate, lists merge by each entry's ``index``."""

    fragment: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The call's outcome: ``details``, its final body under its type key (what the step stores,
    e.g. ``{"ranking_options": ..., "results": [...]}``), and ``images``, file ids that become
    ``image_file`` parts of the run's next assistant message."""

    details: dict[str, Any]
    images: tuple[str, ...] = ()


ToolEvent = ToolDelta | ToolResult


@dataclass(frozen=True, slots=True)
class Replay:
    """A stored call as the model saw it: the function ``name``, its ``arguments`` and the ``output``
    it was given."""

    name: str
    arguments: str
    output: str


@runtime_checkable
class Annotator(Protocol):
    """Finds the markers a tool's output taught the model to write (say ``【0:1†source】``) in the
    model's text, so the engine can annotate them, also while the text streams."""

    def find(self, text: str) -> list[tuple[int, int, dict[str, Any] | None]]:
        """``(start, end, annotation)`` for every complete marker in ``text``; ``annotation`` is the
        OpenAI annotation without its indexes (``{"type": "file_citation", "text": marker,
        "file_citation": {"file_id": ...}}``), or None for a marker that resolves to nothing (the model
        made it up): the engine removes it from the text rather than let it cite a wrong file."""

    def hold(self, text: str) -> int:
        """How many trailing characters of ``text`` may be the start of a marker: the engine holds
        them back from the stream until more text decides."""


@runtime_checkable
class ToolExecutor(Protocol):
    """Runs one built-in tool type. Two methods are optional:

    - ``annotator(calls)``: given the run's calls of this type (full step entries, in order: a
      marker's call number is its position there), an :class:`Annotator`, or None when there is
      nothing to annotate;
    - ``arguments_delta(before, after)``: while the model writes the call's JSON arguments (``before``
      and ``after`` a new piece), a fragment of the call's body to stream at once (code_interpreter's
      ``{"input": ...}``), or None;
    - ``shown(details, include)``: the call's body as clients see it, given the ``include[]`` values
      of their request (file_search keeps its results' ``content`` for the model's replay, but shows
      it only when asked). Without it, clients see the body as stored."""

    type: str

    def function(self, tool: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        """The chat-completions function ``{name, description, parameters}`` offered to the model for
        the run's ``tools`` entry ``tool``."""

    def execute(self, call: ToolCall, context: ToolContext) -> AsyncIterator[ToolEvent]:
        """Run the call: yield any :class:`ToolDelta` and end with exactly one :class:`ToolResult`.
        Raising fails the run (``last_error`` says why). Awaits may be cancelled (a run cancelled or
        shut down); the storage calls made through ``context.storage`` never are."""

    def replay(self, details: dict[str, Any], ordinal: int | None) -> Replay:
        """What the model is shown for a stored call with body ``details``: the run's ``ordinal``-th
        call of this type (0-based), or, with ``ordinal`` None, a call of an earlier run of the
        thread, whose citation markers can't be resolved any more: show it without them (a marker
        copied from it would otherwise cite whatever the current run's call of that number found)."""


@dataclass(frozen=True, slots=True)
class BuiltinTool:
    """A built-in tool as one run offers it: its executor, the run's ``tools`` entry and the function
    definition the model is given (whose ``name`` the model calls)."""

    executor: ToolExecutor
    tool: dict[str, Any]
    function: dict[str, Any]


@dataclass
class MarkerAnnotator:
    """An :class:`Annotator` for bracketed markers: ``pattern`` matches one whole marker, ``opening``
    is the character that starts one (``closing`` the one that ends it, if any), and
    ``resolve(match)`` gives its annotation (None: the marker resolves to nothing and is removed). A
    marker longer than ``longest`` characters is not waited for."""

    pattern: re.Pattern[str]
    opening: str
    resolve: Callable[[re.Match[str]], dict[str, Any] | None]
    longest: int = 200
    closing: str = ""

    def find(self, text: str) -> list[tuple[int, int, dict[str, Any] | None]]:
        return [(match.start(), match.end(), self.resolve(match)) for match in self.pattern.finditer(text)]

    def hold(self, text: str) -> int:
        start = text.rfind(self.opening, max(0, len(text) - self.longest))
        if start < 0 or (self.closing and self.closing in text[start:]):
            return 0
        return len(text) - start


def file_citation(marker: str, file_id: str) -> dict[str, Any]:
    """The ``file_citation`` annotation of ``marker`` (without indexes)."""
    return {"type": "file_citation", "text": marker, "file_citation": {"file_id": file_id}}


def file_path(marker: str, file_id: str) -> dict[str, Any]:
    """The ``file_path`` annotation of ``marker`` (without indexes)."""
    return {"type": "file_path", "text": marker, "file_path": {"file_id": file_id}}


def bind(executors: dict[str, ToolExecutor], run: dict[str, Any]) -> dict[str, BuiltinTool]:
    """The run's built-in tools by function name: each ``tools`` entry whose type has an executor. A
    user function of the same name wins (the model can't be offered two)."""
    tools: Sequence[dict[str, Any]] = run.get("tools") or ()
    functions = {t["function"]["name"] for t in tools if t["type"] == "function"}
    bound: dict[str, BuiltinTool] = {}
    for tool in tools:
        executor = executors.get(tool["type"])
        if executor is not None:
            definition = executor.function(tool, run)
            if definition["name"] not in functions:
                bound[definition["name"]] = BuiltinTool(executor, tool, definition)
    return bound


__all__ = ["Annotator", "BuiltinTool", "MarkerAnnotator", "Replay", "ToolCall", "ToolContext", "ToolDelta",
           "ToolEvent", "ToolExecutor", "ToolResult", "bind", "file_citation", "file_path"]
