"""The ``completions`` run adapter: a thread becomes one chat-completions request per model turn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..blobs import BlobNotFound, reading
from ..errors import APIError, BadGateway, InvalidPrompt
from ..files import is_file_id
from ..ids import instant, with_prefix
from ..images import MAX_IMAGE_BYTES, MAX_REQUEST_IMAGE_BYTES, SNIFF_BYTES, data_url, image_type
from ..storage import EVERYTHING, ListQuery
from . import RunContext, RunEvent, TextDelta, ToolCallDelta, TurnEnd, completed_tool_calls

# What an image counts for in the prompt-size estimate: a 1024x1024 image at high detail on OpenAI's
# tiles (85 + 4 x 170 tokens), whatever its URL's length.
IMAGE_TOKENS = 765


def _user_content(message: dict[str, Any]) -> str | list[dict[str, Any]]:
    blocks = message["content"]
    if len(blocks) == 1 and blocks[0]["type"] == "text":  # nearly every message: skip the general case
        return blocks[0]["text"]["value"]
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        kind = block["type"]
        if kind == "text":
            parts.append({"type": "text", "text": block["text"]["value"]})
        elif kind == "image_url":
            parts.append(_image_part(block["image_url"]["url"], block["image_url"]))
        elif kind == "image_file":  # its bytes are read once the prompt's window is known (_read_images)
            parts.append({**block, "at": f"content[{index}] of message {message['id']}"})
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _image_part(url: str, given: dict[str, Any]) -> dict[str, Any]:
    """A chat-completions ``image_url`` part: the URL, and the ``detail`` of the part if it has one."""
    image = {"url": url, "detail": given["detail"]} if given.get("detail") else {"url": url}
    return {"type": "image_url", "image_url": image}


async def _read_images(chat: list[dict[str, Any]], ctx: RunContext) -> None:
    """The ``image_file`` parts of the prompt's user messages become ``image_url`` parts whose URL is a
    ``data:`` URL of the file's bytes, read from the blob store (a file used twice is read once). The
    media type is told from the bytes, not from the file's name. A file the run may not read
    (``RunContext.file``: missing, another project's, expired), no image, or over OpenAI's limits
    (20 MB an image, 50 MB of images a request, each part counting: each carries its own copy) fails
    the run (``invalid_prompt``)."""
    urls: dict[str, tuple[str, int]] = {}  # file id -> its data: URL, its size
    room = MAX_REQUEST_IMAGE_BYTES
    for message in chat:
        content = message["content"]
        if message["role"] != "user" or isinstance(content, str):
            continue
        for i, part in enumerate(content):
            if part["type"] != "image_file":
                continue
            ref, at = part["image_file"], part["at"]
            file_id = ref["file_id"]
            if file_id not in urls:
                data = await _image_bytes(ctx, file_id, room, at)
                media_type = image_type(data[:SNIFF_BYTES])
                if media_type is None:
                    raise _unusable(at, file_id, "is not an image: images must be PNG, JPEG, WEBP or GIF")
                urls[file_id] = data_url(media_type, data), len(data)
            url, size = urls[file_id]
            if size > room:
                raise _over_request(at, file_id)
            room -= size
            content[i] = _image_part(url, ref)


async def _image_bytes(ctx: RunContext, file_id: str, room: int, at: str) -> bytes:
    """The bytes of file ``file_id``, if the run may read it and they fit OpenAI's limits (``room``:
    what the request's images may still add)."""
    blobs = ctx.blobs
    if blobs is None:
        raise APIError("The thread has image_file parts, but no blob store was given to read them from.",
                       status=500, type="server_error", code="server_error")
    missing = _unusable(at, file_id, "does not exist")
    # Never a key a client made up ("../x"), nor a file the run's project may not read
    if not is_file_id(file_id) or await ctx.file(file_id) is None:
        raise missing
    size = await blobs.size(file_id)
    if size is None:
        raise missing
    limit = min(MAX_IMAGE_BYTES, room)
    if size <= limit:
        chunks: list[bytes] = []
        got = 0
        try:
            async with reading(blobs, file_id) as chunks_read:
                async for chunk in chunks_read:
                    got += len(chunk)
                    if got > limit:  # it grew since: no more than the limit is read
                        break
                    chunks.append(chunk)
        except BlobNotFound:
            raise missing from None
        if got <= limit:
            return b"".join(chunks)
        size = got
    if size <= MAX_IMAGE_BYTES:
        raise _over_request(at, file_id)
    raise _unusable(at, file_id, f"is larger than {MAX_IMAGE_BYTES >> 20} MB, the most an image may be")


def _over_request(at: str, file_id: str) -> InvalidPrompt:
    return _unusable(at, file_id, f"would take the prompt's images over {MAX_REQUEST_IMAGE_BYTES >> 20} MB, "
                     "the most one request may carry")


def _unusable(at: str, file_id: str, why: str) -> InvalidPrompt:
    return InvalidPrompt(f"The image_file part at {at} names file {file_id}, which {why}.")


def _text(blocks: list[dict[str, Any]], uncited: bool = False) -> str:
    """The text of a message's blocks; with ``uncited``, without the citation markers its
    ``file_citation`` annotations cover (an earlier run's answer: the current run can't resolve them,
    and a model shown them may copy them)."""
    if len(blocks) == 1 and blocks[0]["type"] == "text" and not (uncited and blocks[0]["text"]["annotations"]):
        return blocks[0]["text"]["value"]
    return "".join(_uncited(b["text"]) if uncited else b["text"]["value"] for b in blocks if b["type"] == "text")


def _uncited(text: dict[str, Any]) -> str:
    value, kept, start = text["value"], [], 0
    for note in sorted((n for n in text.get("annotations") or () if n.get("type") == "file_citation"),
                       key=lambda n: n["start_index"]):
        if note["start_index"] >= start:
            kept.append(value[start:note["start_index"]])
            start = note["end_index"]
    kept.append(value[start:])
    return "".join(kept)


def _estimate_tokens(message: dict[str, Any]) -> int:
    content = message.get("content")
    images = 0
    if isinstance(content, str):
        size = len(content)
    else:
        size = sum(len(part["text"]) for part in content or () if part["type"] == "text")
        images = sum(part["type"] != "text" for part in content or ())
    for call in message.get("tool_calls") or ():
        size += len(call["function"]["arguments"]) + len(call["function"]["name"])
    return size // 4 + 4 + images * IMAGE_TOKENS


async def _history(ctx: RunContext) -> list[dict[str, Any]]:
    """Thread messages and completed tool rounds, in the order they happened."""
    run, storage = ctx.run, ctx.storage
    thread_id = run["thread_id"]
    strategy = run.get("truncation_strategy") or {"type": "auto"}
    if strategy.get("type") == "last_messages" and strategy.get("last_messages"):
        page = await storage.list_messages(thread_id, ListQuery(limit=strategy["last_messages"], order="desc"))
        messages = list(reversed(page.data))
    else:
        messages = (await storage.list_messages(thread_id, ListQuery(limit=EVERYTHING, order="asc"))).data
    # Tool rounds live in run steps; ids sort by creation across kinds. A step after the oldest message
    # kept is in the window; so are the earlier steps of a kept message's run and of this run (they
    # started before their messages). One query for the whole thread, however many runs it has had.
    window = with_prefix("step", messages[0]["id"]) if messages else None
    own_runs = {m["run_id"] for m in messages if m.get("run_id")} | {run["id"]}
    start = min([window, *(with_prefix("step", r) for r in own_runs)]) if window else None
    tool_steps = (await storage.list_thread_steps(
        thread_id, ListQuery(limit=EVERYTHING, order="asc", after=start), step_type="tool_calls")).data
    steps = [step for step in tool_steps if step["status"] == "completed"
             and (window is None or step["id"] > window or step["run_id"] in own_runs)]
    replayed = _replayed(steps, ctx.executors, run["id"])
    # Messages come in order; only tool rounds need merging in.
    timeline = sorted([*messages, *steps], key=lambda o: instant(o["id"])) if steps else messages

    chat: list[dict[str, Any]] = []
    last_assistant_run: str | None = None
    runs_code = any(builtin.executor.type == "code_interpreter" for builtin in ctx.tools.values())
    for item in timeline:
        if item["object"] == "thread.message":
            if item["role"] == "user":
                content = _user_content(item)
                if runs_code and item.get("attachments"):
                    content = await _with_code_files(content, item["attachments"], ctx)
                chat.append({"role": "user", "content": content})
                last_assistant_run = None
            elif text := _text(item["content"], uncited=item.get("run_id") != run["id"]):  # only images: nothing
                chat.append({"role": "assistant", "content": text})
                last_assistant_run = item.get("run_id")
            continue
        rounds = replayed.get(item["id"])
        if not rounds:
            continue
        tool_calls = [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
                      for call_id, name, arguments, _ in rounds]
        if last_assistant_run == item["run_id"] and chat and "tool_calls" not in chat[-1]:
            chat[-1]["tool_calls"] = tool_calls  # text and calls of one model turn: one message
        else:
            chat.append({"role": "assistant", "content": None, "tool_calls": tool_calls})
        chat.extend({"role": "tool", "tool_call_id": call_id, "content": output} for call_id, _, _, output in rounds)
        last_assistant_run = None
    return chat


async def _with_code_files(content: str | list[dict[str, Any]], attachments: list[dict[str, Any]],
                           ctx: RunContext) -> str | list[dict[str, Any]]:
    """A user message's content, told where its code_interpreter attachments are in the sandbox
    (``/mnt/data/<file id>``, as code_interpreter copies them), with their names: the model can't
    list the files it is given before it runs code."""
    notes = []
    for attachment in attachments:
        if any(tool.get("type") == "code_interpreter" for tool in attachment.get("tools") or ()):
            file = await ctx.file(attachment["file_id"])
            if file is not None:
                notes.append(f"[{file.get('filename') or 'a file'} is attached at /mnt/data/{file['id']}]")
    if not notes:
        return content
    note = "\n".join(notes)
    if isinstance(content, str):
        return f"{content}\n\n{note}" if content else note
    return [*content, {"type": "text", "text": note}]


def _replayed(steps: list[dict[str, Any]], executors: dict[str, Any], run_id: str
              ) -> dict[str, list[tuple[str, str, str, str]]]:
    """Completed tool_calls steps as the model is shown them: step id -> ``(id, name, arguments,
    output)`` per call, in order. Built-in calls are rebuilt by their executor (those of runs before
    ``run_id`` without their citation markers); those of a type no executor knows any more are left
    out."""
    rounds: dict[str, list[tuple[str, str, str, str]]] = {}
    for step, c, ordinal in completed_tool_calls(steps):
        shown = rounds.setdefault(step["id"], [])
        if ordinal is None:
            fn = c["function"]
            shown.append((c["id"], fn["name"], fn["arguments"], fn["output"] or ""))
        elif (executor := executors.get(c["type"])) is not None:
            seen = executor.replay(c.get(c["type"]) or {}, ordinal if step["run_id"] == run_id else None)
            shown.append((c["id"], seen.name, seen.arguments, seen.output))
    return rounds


def _fit_prompt_budget(chat: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """Drop the oldest messages until the estimate fits, never splitting a tool round and always
    keeping the last message (with its tool round); if even that is too big, the provider's reported
    usage ends the run ``incomplete``."""
    total = sum(_estimate_tokens(m) for m in chat)
    start = 0
    last = max((i for i, m in enumerate(chat) if m["role"] != "tool"), default=0)
    while total > budget and start < last:
        total -= _estimate_tokens(chat[start])
        start += 1
        while start < len(chat) and chat[start]["role"] == "tool":
            total -= _estimate_tokens(chat[start])
            start += 1
    return chat[start:]


def _tool_choice(ctx: RunContext) -> Any:
    """The run's ``tool_choice`` for this model turn: a forced choice (``required``, a function, a
    built-in tool type) binds each segment's first turn (``ctx.round`` 0) only: a forced user function
    is forced again after every ``submit_tool_outputs``, a forced built-in tool once per segment, so the
    model can't loop on it. A built-in type becomes its function, and one the run doesn't offer
    (file_search before it has an executor) is ``auto``: chat completions know only functions."""
    choice = ctx.run.get("tool_choice") or "auto"
    if ctx.round and choice != "none":
        return "auto"
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            return {"type": "function", "function": {"name": choice["function"]["name"]}}
        for name, builtin in ctx.tools.items():
            if builtin.executor.type == choice.get("type"):
                return {"type": "function", "function": {"name": name}}
        return "auto"
    return choice


async def build_request(ctx: RunContext) -> dict[str, Any]:
    run = ctx.run
    chat = await _history(ctx)
    if run.get("max_prompt_tokens"):
        chat = _fit_prompt_budget(chat, run["max_prompt_tokens"])
    await _read_images(chat, ctx)  # only for the messages the prompt keeps
    if run.get("instructions"):
        chat.insert(0, {"role": "system", "content": run["instructions"]})
    params: dict[str, Any] = {"model": run["model"], "messages": chat, "stream": True,
                              "stream_options": {"include_usage": True}}
    functions = [{"type": "function", "function": t["function"]} for t in run.get("tools") or ()
                 if t["type"] == "function"]
    if ctx.tools:  # the run's built-in tools, offered as functions the engine executes
        functions += [{"type": "function", "function": builtin.function} for builtin in ctx.tools.values()]
    if functions:
        params["tools"] = functions
        params["tool_choice"] = _tool_choice(ctx)
        params["parallel_tool_calls"] = run.get("parallel_tool_calls", True)
    for key in ("temperature", "top_p"):
        if run.get(key) is not None:
            params[key] = run[key]
    fmt = run.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        params["response_format"] = fmt
    if run.get("max_completion_tokens"):
        used = ctx.usage.get("completion_tokens", 0)
        params["max_completion_tokens"] = max(1, run["max_completion_tokens"] - used)
    if run.get("reasoning_effort"):
        params["reasoning_effort"] = run["reasoning_effort"]
    return params


class CompletionsRunAdapter:
    async def run_turn(self, ctx: RunContext) -> AsyncIterator[RunEvent]:
        if ctx.client is None:
            raise APIError("No client adapter is configured, so runs can't call a model.", status=500,
                           type="server_error", code="server_error")
        params = await build_request(ctx)
        finish: str | None = None
        usage: dict[str, int] | None = None
        indexes: dict[int, int] = {}  # provider tool-call index -> ours (0, 1, ...)
        async for chunk in ctx.client.chat_completions_stream(params):
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                if choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    yield TextDelta(delta["content"])
                for call in delta.get("tool_calls") or ():
                    fn = call.get("function") or {}
                    provider_index = call.get("index", len(indexes))
                    if provider_index not in indexes:
                        indexes[provider_index] = len(indexes)
                        yield ToolCallDelta(indexes[provider_index], fn.get("arguments") or "", call.get("id"),
                                            fn.get("name"))
                    elif fn.get("arguments"):
                        yield ToolCallDelta(indexes[provider_index], fn["arguments"])
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        if finish is None:
            raise BadGateway("The provider's response ended before it was complete.", code="server_error")
        yield TurnEnd(finish, usage)
