"""ClientAdapterTests: what every client adapter must do, checked against the openai SDK's own types.

Subclass it and provide a fixture ``scripted_provider`` yielding an object with:

- ``adapter``: the client adapter under test, connected to a fake of its provider;
- ``script(*replies)``: queue :class:`~supercompat.testing.Reply` answers, one per request, that the
  fake sends in the provider's own wire format;
- ``fail(status, message)``: make the next request fail with that HTTP status.

Two functions check a client plugin's package as installed: :func:`assert_imports_lazily` (installing
it costs nothing until it is chosen) and :func:`configured_client_adapter` (its entry point builds
the adapter from a ``[client]`` section).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk

from ..errors import APIError
from .kit import Kit, fixture, mark, pytest
from .scripted import Reply

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}]


def request(**extra: Any) -> dict[str, Any]:
    return {"model": "test-model", "messages": [{"role": "system", "content": "Be brief."},
                                                 {"role": "user", "content": "What's the weather in Paris?"}], **extra}


async def collect(adapter: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [chunk async for chunk in adapter.chat_completions_stream(params)]


def merged_tool_calls(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accumulate streamed tool calls the way the openai SDK's helpers do, checking the rule that
    ``id`` and ``name`` come only in a call's first fragment."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for tc in (choice.get("delta") or {}).get("tool_calls") or ():
                fn = tc.get("function") or {}
                if tc["index"] not in calls:
                    assert tc.get("id") and fn.get("name"), "a call's first fragment carries id and name"
                    calls[tc["index"]] = {"id": tc["id"], "name": fn["name"], "arguments": fn.get("arguments") or ""}
                else:
                    assert not tc.get("id") and not fn.get("name"), "id and name only in the first fragment"
                    calls[tc["index"]]["arguments"] += fn.get("arguments") or ""
    return [calls[i] for i in sorted(calls)]


def finish_reasons(chunks: list[dict[str, Any]]) -> list[str]:
    return [c["finish_reason"] for chunk in chunks for c in chunk["choices"] if c.get("finish_reason")]


def assert_imports_lazily(package: str, *modules: str) -> None:
    """Importing the client plugin ``package`` (as the plugin manager does, for every installed plugin)
    imports neither its adapter module nor ``modules`` (its provider's SDK): checked in a new
    interpreter."""
    unwanted = [f"{package}.adapter", *modules]
    code = (f"import sys, {package}; imported = [m for m in {unwanted!r} if m in sys.modules]; "
            f"assert not imported, f'importing {package} imported {{imported}}'")
    subprocess.run([sys.executable, "-c", code], check=True)


@asynccontextmanager
async def configured_client_adapter(plugin: str, options: dict[str, Any]) -> AsyncIterator[Any]:
    """The client adapter that a ``[client]`` section (``plugin = "<plugin>"``, and ``options``) builds
    through the installed plugins: checked to come from the distribution ``supercompat-<plugin>`` and
    to be async, over an SDK client of its own, which ``aclose()`` closes when the block ends."""
    from .. import plugins

    plugins.reset()
    spec = plugins.get_adapter_spec("client", plugin)
    assert spec.plugin == f"supercompat-{plugin}"
    adapter = spec.build(options)
    try:
        assert adapter.is_async and adapter.owns_client, "built from options: async, over a client of its own"
        yield adapter
    finally:
        await adapter.aclose()


class ClientAdapterTests(Kit, standard=True):
    @fixture
    def scripted_provider(self) -> Any:  # pragma: no cover - subclasses override
        raise NotImplementedError("provide a `scripted_provider` fixture (see the module docstring)")

    async def test_text_completion(self, scripted_provider: Any) -> None:
        scripted_provider.script(Reply(text="Sunny in Paris."))
        completion = await scripted_provider.adapter.chat_completions(request())
        ChatCompletion.model_validate(completion)
        choice = completion["choices"][0]
        assert choice["message"]["content"] == "Sunny in Paris." and choice["finish_reason"] == "stop"
        assert completion["usage"]["total_tokens"] >= completion["usage"]["completion_tokens"] > 0

    async def test_text_stream(self, scripted_provider: Any) -> None:
        scripted_provider.script(Reply(text="Sunny in Paris today."))
        chunks = await collect(scripted_provider.adapter, request(stream_options={"include_usage": True}))
        for chunk in chunks:
            ChatCompletionChunk.model_validate(chunk)
        text = "".join((c.get("delta") or {}).get("content") or "" for ch in chunks for c in ch["choices"])
        assert text == "Sunny in Paris today."
        assert finish_reasons(chunks) == ["stop"]
        assert any(chunk.get("usage") for chunk in chunks), "usage is reported when include_usage is asked"

    async def test_parallel_tool_calls_stream(self, scripted_provider: Any) -> None:
        scripted_provider.script(Reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_time", {})]))
        chunks = await collect(scripted_provider.adapter, request(tools=TOOLS))
        for chunk in chunks:
            ChatCompletionChunk.model_validate(chunk)
        calls = merged_tool_calls(chunks)
        assert [c["name"] for c in calls] == ["get_weather", "get_time"]
        assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
        assert json.loads(calls[1]["arguments"] or "{}") == {}
        assert calls[0]["id"] != calls[1]["id"]
        assert finish_reasons(chunks) == ["tool_calls"]

    async def test_tool_calls_completion(self, scripted_provider: Any) -> None:
        scripted_provider.script(Reply(tool_calls=[("get_weather", {"city": "Rome"})]))
        completion = await scripted_provider.adapter.chat_completions(request(tools=TOOLS))
        ChatCompletion.model_validate(completion)
        choice = completion["choices"][0]
        assert choice["finish_reason"] == "tool_calls"
        call = choice["message"]["tool_calls"][0]
        assert call["function"]["name"] == "get_weather"
        assert json.loads(call["function"]["arguments"]) == {"city": "Rome"}

    async def test_tool_results_round_trip(self, scripted_provider: Any) -> None:
        scripted_provider.script(Reply(tool_calls=[("get_weather", {"city": "Paris"}), ("get_time", {})]))
        first = await scripted_provider.adapter.chat_completions(request(tools=TOOLS))
        calls = first["choices"][0]["message"]["tool_calls"]
        messages = [*request()["messages"],
                    {"role": "assistant", "content": None, "tool_calls": calls},
                    *({"role": "tool", "tool_call_id": c["id"], "content": f"result {i}"} for i, c in enumerate(calls))]
        scripted_provider.script(Reply(text="Done."))
        chunks = await collect(scripted_provider.adapter, request(messages=messages, tools=TOOLS))
        assert "".join((c.get("delta") or {}).get("content") or "" for ch in chunks for c in ch["choices"]) == "Done."

    async def test_length_finish(self, scripted_provider: Any) -> None:
        scripted_provider.script(Reply(text="Cut", finish_reason="length"))
        chunks = await collect(scripted_provider.adapter, request(max_completion_tokens=1))
        assert finish_reasons(chunks) == ["length"]

    @mark.parametrize("status", [400, 429, 500])
    async def test_provider_errors_keep_their_status(self, scripted_provider: Any, status: int) -> None:
        scripted_provider.fail(status, "scripted failure")
        with pytest.raises(APIError) as info:
            await collect(scripted_provider.adapter, request())
        assert info.value.status == status and "scripted failure" in info.value.message

    async def test_list_models(self, scripted_provider: Any) -> None:
        models = await scripted_provider.adapter.list_models()
        assert models and all(isinstance(m["id"], str) and m["object"] == "model" for m in models)
