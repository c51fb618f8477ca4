"""``code_interpreter``: the built-in tool that runs the model's Python in the App's sandbox
(:mod:`supercompat.sandboxes`), one stateful session per thread.

The model is offered one function, ``python``, taking ``{"code": ...}`` (a model that sends the code
itself rather than JSON is understood too). While it writes the code, the step streams it as the
call's ``input``; the engine then runs it and the step gets its ``outputs``: ``logs`` (what the cell
printed, its last expression or its traceback) and an ``image`` per figure it drew, stored as a File
(purpose ``assistants_output``) that also opens the next assistant message as an ``image_file``
part. Files the code writes under ``/mnt/data`` become Files too, and the answer's links to them
(``sandbox:/mnt/data/report.csv``) get ``file_path`` annotations.

The files the run may use (``tool_resources.code_interpreter.file_ids`` of the assistant and the
thread, and the thread's message attachments for code_interpreter) are copied into the session as
``/mnt/data/<file id>`` before the code runs. A thread keeps its session, variables and files
between runs until it has been idle for :attr:`CodeInterpreterTool.idle_seconds` (sessions live in
the process that opened them: a run executed by another process starts a new one).
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .blobs import reading
from .errors import APIError
from .files import store_file, usable
from .sandboxes import NO_SANDBOX_HELP, Execution, SandboxFile, SandboxSession
from .storage import EVERYTHING, ListQuery
from .tools import Replay, ToolCall, ToolContext, ToolDelta, ToolEvent, ToolResult, file_path

TYPE = "code_interpreter"
FUNCTION = "python"
CELL_SECONDS = 60.0  # a cell's time limit
IDLE_SECONDS = 3600.0  # a thread's session is closed after this long unused (OpenAI: one hour)
MAX_FILES_KEPT = 20  # files one cell wrote that become Files (each up to the sandbox's file size)
MAX_LOGS = 20_000  # characters of a cell's logs the model is shown (all of them are stored)
LINK = re.compile(r"sandbox:(/mnt/data/[^\s)\]\"'<>]*[^\s)\]\"'<>.,;:!?])")
LINK_PREFIX = "sandbox:/mnt/data/"

DESCRIPTION = (
    "Run Python code in a stateful Jupyter-like session: variables and imports persist between calls, "
    "and the value of the last expression is shown. numpy, pandas and matplotlib may be installed. "
    "There is no internet access. Files the user gave you are in /mnt/data, named by their file id "
    "(list the directory to see them); save files you make for the user in /mnt/data and link them in "
    "your answer as sandbox:/mnt/data/<name>. Figures drawn with matplotlib are shown to the user.")


@dataclass
class _Session:
    """A thread's sandbox session, the ids of the files copied into it, and when it was last used."""

    session: SandboxSession
    copied: set[str] = field(default_factory=set)
    used: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _code(arguments: str) -> str:
    """The code of a finished call: ``{"code": ...}``, or the arguments themselves when they aren't a
    JSON object (models trained on OpenAI's own tool send bare code)."""
    try:
        args = json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(args, dict):
        return str(args.get("code") or args.get("input") or "")
    return args if isinstance(args, str) else arguments


_OPENING = re.compile(r'^\s*\{\s*"(?:code|input)"\s*:\s*"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _partial_code(arguments: str) -> str:
    """As much of the code as ``arguments`` (JSON still being written) holds for certain: the decoded
    characters of its ``code`` string up to the last complete escape."""
    opening = _OPENING.match(arguments)
    if opening is None:
        return "" if arguments.lstrip().startswith("{") or not arguments else arguments
    out: list[str] = []
    i, text = opening.end(), arguments
    while i < len(text):
        char = text[i]
        if char == '"':
            break
        if char != "\\":
            out.append(char)
            i += 1
            continue
        if i + 1 >= len(text):
            break
        kind = text[i + 1]
        if kind == "u":
            code = _hex(text[i + 2:i + 6])
            if code is None:  # not all there yet, or not JSON: nothing more streams
                break
            if 0xD800 <= code < 0xDC00:  # a surrogate pair: wait for its second half
                low = _hex(text[i + 8:i + 12]) if text[i + 6:i + 8] == "\\u" else None
                if low is None or not 0xDC00 <= low < 0xE000:
                    break
                out.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
                i += 12
                continue
            out.append(chr(code))
            i += 6
            continue
        out.append(_ESCAPES.get(kind, kind))
        i += 2
    return "".join(out)


def _hex(digits: str) -> int | None:
    """Four hex digits' value; None if there aren't four of them."""
    if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        return None
    return int(digits, 16)


class LinkAnnotator:
    """Finds ``sandbox:/mnt/data/...`` links in the model's text: those naming a file the run's code
    wrote become ``file_path`` annotations; others are left as they are."""

    def __init__(self, written: dict[str, str]) -> None:
        self.written = written  # path under /mnt/data -> the File made of it

    def find(self, text: str) -> list[tuple[int, int, dict[str, Any] | None]]:
        found: list[tuple[int, int, dict[str, Any] | None]] = []
        for match in LINK.finditer(text):
            file_id = self.written.get(posixpath.normpath(match.group(1)))
            if file_id is not None:
                found.append((match.start(), match.end(), file_path(match.group(0), file_id)))
        return found

    def hold(self, text: str) -> int:
        """A link may still be growing: hold from its start until a character that ends it arrives,
        and hold a tail that may be the start of one."""
        start = text.rfind(LINK_PREFIX, max(0, len(text) - 300))
        if start >= 0 and not re.search(r"[\s)\]\"'<>]", text[start:]):
            return len(text) - start
        for size in range(min(len(LINK_PREFIX) - 1, len(text)), 0, -1):
            if LINK_PREFIX.startswith(text[-size:]):
                return size
        return 0


class CodeInterpreterTool:
    """The ``code_interpreter`` executor: one per App (it keeps the App's sessions by thread)."""

    type = TYPE

    def __init__(self) -> None:
        self.cell_seconds = CELL_SECONDS
        self.idle_seconds = IDLE_SECONDS
        self._sessions: dict[str, _Session] = {}  # thread id -> its session

    def function(self, tool: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        return {"name": FUNCTION, "description": DESCRIPTION, "parameters": {
            "type": "object", "required": ["code"],
            "properties": {"code": {"type": "string", "description": "The Python code to run."}}}}

    def arguments_delta(self, before: str, after: str) -> dict[str, Any] | None:
        shown, now = _partial_code(before), _partial_code(after)
        return {"input": now[len(shown):]} if len(now) > len(shown) and now.startswith(shown) else None

    async def execute(self, call: ToolCall, context: ToolContext) -> AsyncIterator[ToolEvent]:
        code = _code(call.arguments)
        app = context.app
        sandbox = app.sandbox if app is not None else None
        if app is None or sandbox is None:
            raise APIError(NO_SANDBOX_HELP, status=500, type="server_error")
        thread_id = context.run["thread_id"]
        held = await self._session(thread_id, sandbox)
        async with held.lock:
            await self._copy_files(context, held)
            before = {f.path: f for f in await held.session.files()}
            execution = await held.session.run(code, timeout=self.cell_seconds)
            held.used = time.monotonic()
            after = await held.session.files()
        outputs: list[dict[str, Any]] = []
        fresh = [file for file in after if _written(file, before)]
        logs = _logs(execution)
        if len(fresh) > MAX_FILES_KEPT:
            logs = (f"{logs}\n[{len(fresh) - MAX_FILES_KEPT} more files the cell wrote were not kept: at most "
                    f"{MAX_FILES_KEPT} are, the latest written]").lstrip("\n")
        if logs:
            outputs.append({"type": "logs", "logs": logs})
            yield ToolDelta({"outputs": [{"index": 0, "type": "logs", "logs": logs}]})
        project = await _project(context)
        images = []
        for number, png in enumerate(execution.images):
            image = await _keep(app, project, f"image-{number + 1}.png", png)
            images.append(image["id"])
            outputs.append({"type": "image", "image": {"file_id": image["id"]}})
            yield ToolDelta({"outputs": [{"index": len(outputs) - 1, "type": "image",
                                          "image": {"file_id": image["id"]}}]})
        written: dict[str, str] = {}
        for file in sorted(fresh, key=lambda f: -f.modified)[:MAX_FILES_KEPT]:  # the latest written
            data = await held.session.get(file.path)
            if data is not None:
                written[file.path] = (await _keep(app, project, posixpath.basename(file.path), data))["id"]
        yield ToolResult({"input": code, "outputs": outputs, "files": written}, images=tuple(images))

    async def _session(self, thread_id: str, sandbox: Any) -> _Session:
        now = time.monotonic()
        for other, idle in list(self._sessions.items()):  # idle sessions end as others are used
            if other != thread_id and now - idle.used > self.idle_seconds and not idle.lock.locked():
                del self._sessions[other]
                await idle.session.close()
        held = self._sessions.get(thread_id)
        if held is None or now - held.used > self.idle_seconds:
            if held is not None:
                await held.session.close()
            try:
                session = await sandbox.open()
            except Exception as err:
                raise APIError(f"{NO_SANDBOX_HELP} ({type(err).__name__}: {err})", status=500,
                               type="server_error") from err
            held = self._sessions[thread_id] = _Session(session)
        held.used = now
        return held

    async def _copy_files(self, context: ToolContext, held: _Session) -> None:
        """Put the run's files not yet in the session at ``/mnt/data/<file id>``."""
        app = context.app
        assert app is not None
        project = await _project(context)
        for file_id in await _run_files(context):
            if file_id in held.copied:
                continue
            file = await context.storage.get_file(file_id)
            if not usable(file, project, time.time()):
                continue
            async with reading(app.blobs, file_id) as chunks:
                data = b"".join([chunk async for chunk in chunks])
            await held.session.put(file_id, data)
            held.copied.add(file_id)

    def replay(self, details: dict[str, Any], ordinal: int | None) -> Replay:
        shown = []
        for output in details.get("outputs") or ():
            if output.get("type") == "logs":
                logs = output.get("logs") or ""
                shown.append(logs if len(logs) <= MAX_LOGS else logs[:MAX_LOGS] + "\n[... logs cut ...]")
            elif output.get("type") == "image":
                shown.append("[an image was shown to the user]")
        for path in details.get("files") or {}:
            shown.append(f"[file written: {path}, linkable as sandbox:{path}]")
        return Replay(FUNCTION, json.dumps({"code": details.get("input", "")}), "\n".join(shown) or "(no output)")

    def annotator(self, calls: list[dict[str, Any]]) -> LinkAnnotator | None:
        written: dict[str, str] = {}
        for call in calls:  # a later write of the same path wins
            written.update((call.get(TYPE) or {}).get("files") or {})
        return LinkAnnotator(written) if written else None

    def shown(self, details: dict[str, Any], include: frozenset[str]) -> dict[str, Any]:
        """The call's body as OpenAI shows it: ``input`` and ``outputs`` (the files it wrote are ours)."""
        return {k: v for k, v in details.items() if k != "files"}

    def after_fork(self) -> None:
        """In a forked child: the sessions are the parent's processes, left to it."""
        self._sessions = {}

    async def close(self) -> None:
        """End every session (``App.aclose``)."""
        sessions, self._sessions = self._sessions, {}
        for held in sessions.values():
            await held.session.close()


def _logs(execution: Execution) -> str:
    logs = execution.logs
    if execution.timed_out and "time limit" not in logs:
        logs = f"{logs}\n[the cell was stopped: it ran past its time limit]".lstrip("\n")
    return logs


def _written(file: SandboxFile, before: dict[str, SandboxFile]) -> bool:
    """Whether the cell wrote ``file``: it is new, or changed since the cell began."""
    old = before.get(file.path)
    return old is None or (old.size, old.modified) != (file.size, file.modified)


async def _project(context: ToolContext) -> str | None:
    thread = await context.storage.get_thread(context.run["thread_id"])
    return (thread or {}).get("project")


async def _run_files(context: ToolContext) -> list[str]:
    """The files the run's code may use: the assistant's and the thread's code_interpreter files, and
    those attached to the thread's messages for code_interpreter, in that order, once each."""
    storage, run = context.storage, context.run
    found: dict[str, None] = {}
    for owner in (await storage.get_assistant(run["assistant_id"]), await storage.get_thread(run["thread_id"])):
        for file_id in (((owner or {}).get("tool_resources") or {}).get(TYPE) or {}).get("file_ids") or ():
            found[file_id] = None
    messages = await storage.list_messages(run["thread_id"], ListQuery(limit=EVERYTHING, order="asc"))
    for message in messages.data:
        for attachment in message.get("attachments") or ():
            if any(tool.get("type") == TYPE for tool in attachment.get("tools") or ()):
                found[attachment["file_id"]] = None
    return list(found)


async def _keep(app: Any, project: str | None, filename: str, data: bytes) -> dict[str, Any]:
    """Store what the code made as a File of the thread's project (purpose ``assistants_output``)."""

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    return await store_file(app, project=project, filename=filename, purpose="assistants_output",
                            chunks=chunks())


def code_interpreter_tool() -> CodeInterpreterTool:
    return CodeInterpreterTool()


__all__ = ["CodeInterpreterTool", "LinkAnnotator", "code_interpreter_tool"]
