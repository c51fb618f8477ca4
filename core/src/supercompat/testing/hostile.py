"""HostileInputTests: bad input is refused with a 400 naming its param, on every storage, and nothing is
stored that a later read can't serve; bodies fuzzed from the installed openai package's own param types
never get a 5xx or an answer the SDK's response types can't read.

Subclass with a ``storage_adapter`` fixture returning a fresh, empty store that supercompat's own loop
may use (None: memory). Needs ``hypothesis`` besides pytest and pytest-asyncio (the ``test`` extra has all three).
"""

from __future__ import annotations

import base64
import collections.abc
import json
import math
import string
import struct
import time
import typing
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx2
import openai
import pydantic
import typing_extensions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types import CreateEmbeddingResponse, Model, VectorStore, VectorStoreSearchResponse
from openai.types.beta import Assistant, Thread, ThreadDeleted
from openai.types.beta.threads import Message, Run
from openai.types.beta.threads.runs import RunStep
from openai.types.chat import ChatCompletion
from openai.types.vector_stores import VectorStoreFile, VectorStoreFileBatch

from .. import BASE_URL, supercompat
from ..router import MAX_JSON_DEPTH
from ..transport import SupercompatTransport
from . import app_of
from .contract import close_app
from .embedders import fake_embedder
from .kit import Kit, fixture
from .scripted import Reply, scripted_client_adapter

# -- talking to the API as any HTTP client would, bytes in and bytes out ---------------------------------


def strict_json(raw: bytes) -> Any:
    """Standard JSON only: no NaN or Infinity, valid UTF-8 (a lone surrogate can't be encoded in it)."""
    def refuse(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name} in a response")
    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


def check_envelope(status: int, body: Any) -> None:
    """An error is OpenAI's envelope, and never a 5xx (bad input is the client's fault, not ours)."""
    assert status < 500, (status, body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and isinstance(error["type"], str), error
    assert error["param"] is None or isinstance(error["param"], str), error
    assert error["code"] is None or isinstance(error["code"], str), error


class Api:
    """Raw requests through the in-process transport; every answer checked for its shape."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client
        self.http = httpx2.Client(transport=SupercompatTransport(app_of(client)), base_url=BASE_URL, timeout=30)

    def send(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             params: dict[str, Any] | None = None) -> tuple[int, Any]:
        content = raw if raw is not None else None if body is None else json.dumps(body).encode()
        response = self.http.request(method, path, content=content, params=params,
                                     headers={"content-type": "application/json"})
        parsed = strict_json(response.content)
        if response.status_code >= 400:
            check_envelope(response.status_code, parsed)
        return response.status_code, parsed

    def file(self) -> str:
        """A new file's id, for the bodies that name one (they must name a file that exists)."""
        return self.client.files.create(file=("notes.txt", b"notes"), purpose="assistants").id

    def ok(self, method: str, path: str, body: Any = None, model: Any = None) -> Any:
        status, parsed = self.send(method, path, body)
        assert status == 200, (method, path, parsed)
        if model is not None:
            readable(model, parsed)
        return parsed

    def refused(self, method: str, path: str, raw: bytes) -> dict[str, Any]:
        status, parsed = self.send(method, path, raw=raw)
        assert status == 400, (status, parsed)
        return parsed["error"]

    def wait_for_run(self, thread_id: str, run_id: str, statuses: tuple[str, ...]) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while True:
            run = self.ok("GET", f"/threads/{thread_id}/runs/{run_id}", model=Run)
            if run["status"] in statuses or time.monotonic() > deadline:
                assert run["status"] in statuses, run
                return run
            time.sleep(0.01)


def readable(model: Any, body: Any) -> None:
    """``body`` reads as the SDK's ``model``, every field the SDK declares with the declared type."""
    try:
        model.model_validate(body, strict=True)
    except pydantic.ValidationError as e:
        raise AssertionError(f"the SDK's {model.__name__} can't read {body!r}: {e}") from None


def readable_list(model: Any, body: Any) -> None:
    assert body["object"] == "list" and isinstance(body.get("has_more", False), bool), body
    for item in body["data"]:
        readable(model, item)


def embeddings_as_floats(body: Any) -> Any:
    """An embeddings answer with its base64 vectors (little-endian float32s) decoded, as the SDK does."""
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        for item in body["data"]:
            if isinstance(item, dict) and isinstance(item.get("embedding"), str):
                packed = base64.b64decode(item["embedding"], validate=True)
                assert len(packed) % 4 == 0, item
                item["embedding"] = [float(x) for x in struct.unpack(f"<{len(packed) // 4}f", packed)]
    return body


def nested(depth: int, leaf: str = "1", key: str | None = None) -> bytes:
    """``depth`` levels of arrays (or of objects under ``key``) around ``leaf``, as JSON text."""
    if key is None:
        return b"[" * depth + leaf.encode() + b"]" * depth
    return f'{{"{key}":'.encode() * depth + leaf.encode() + b"}" * depth


TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


class HostileInputTests(Kit, standard=True):
    @fixture
    def storage_adapter(self) -> Any:
        return None  # memory

    @fixture
    def api(self, storage_adapter: Any) -> Iterator[Api]:
        scripted = scripted_client_adapter([Reply(tool_calls=[("lookup", {"q": "x"})])])
        api = Api(supercompat(client_adapter=scripted, storage_adapter=storage_adapter, embedder=fake_embedder(),
                              max_retries=0))
        yield api
        api.http.close()
        close_app(api.client)  # before the storage fixture closes the store

    @fixture
    def objects(self, api: Api) -> dict[str, str]:
        """One of everything, the first run waiting for tool outputs (the scripted model calls a tool)."""
        assistant = api.ok("POST", "/assistants", {"model": "m", "tools": [TOOL]})
        thread = api.ok("POST", "/threads", {"messages": [{"role": "user", "content": "hi"}]})
        message = api.ok("GET", f"/threads/{thread['id']}/messages")["data"][0]
        waiting = api.ok("POST", f"/threads/{thread['id']}/runs", {"assistant_id": assistant["id"]})
        waiting = api.wait_for_run(thread["id"], waiting["id"], ("requires_action",))
        other = api.ok("POST", "/threads", {})
        done = api.ok("POST", f"/threads/{other['id']}/runs", {"assistant_id": assistant["id"]})
        api.wait_for_run(other["id"], done["id"], ("completed",))
        step = api.ok("GET", f"/threads/{other['id']}/runs/{done['id']}/steps")["data"][0]
        file_id = api.file()
        store = api.ok("POST", "/vector_stores", {"name": "fuzzed", "file_ids": [file_id]})
        batch = api.ok("POST", f"/vector_stores/{store['id']}/file_batches", {"file_ids": [api.file()]})
        return {"vector_store_id": store["id"], "vs_file_id": file_id, "vs_batch_id": batch["id"],
                "assistant_id": assistant["id"], "thread_id": thread["id"], "message_id": message["id"],
                "run_id": waiting["id"], "call_id": waiting["required_action"]["submit_tool_outputs"]
                ["tool_calls"][0]["id"], "done_thread_id": other["id"], "done_run_id": done["id"],
                "step_id": step["id"]}

    def everything_reads(self, api: Api, o: dict[str, str]) -> None:
        """Every list and retrieve answers 200, standard JSON the SDK's types read."""
        readable_list(Assistant, api.ok("GET", "/assistants?limit=100"))
        readable(Assistant, api.ok("GET", f"/assistants/{o['assistant_id']}"))
        for thread_id in (o["thread_id"], o["done_thread_id"]):
            readable(Thread, api.ok("GET", f"/threads/{thread_id}"))
            readable_list(Message, api.ok("GET", f"/threads/{thread_id}/messages?limit=100"))
            runs = api.ok("GET", f"/threads/{thread_id}/runs?limit=100")
            readable_list(Run, runs)
            for run in runs["data"]:
                readable_list(RunStep, api.ok("GET", f"/threads/{thread_id}/runs/{run['id']}/steps"))
        stores = api.ok("GET", "/vector_stores?limit=100")
        readable_list(VectorStore, stores)
        for store in stores["data"]:
            readable(VectorStore, api.ok("GET", f"/vector_stores/{store['id']}"))
            readable_list(VectorStoreFile, api.ok("GET", f"/vector_stores/{store['id']}/files?limit=100"))
        readable(VectorStoreFileBatch, api.ok("GET", f"/vector_stores/{o['vector_store_id']}/file_batches/"
                                                     f"{o['vs_batch_id']}"))

    # -- poisoned reads (each was accepted, and the object then read as a 500 or as non-standard JSON) ----
    POISON = [
        ("POST", "/assistants", b'{"model": "m", "temperature": NaN}', "temperature"),
        ("POST", "/assistants", b'{"model": "m", "top_p": NaN}', "top_p"),
        ("POST", "/assistants", b'{"model": "m", "top_p": -Infinity}', "top_p"),
        ("POST", "/assistants", b'{"model": "m", "temperature": 1e999}', "temperature"),
        ("POST", "/assistants", b'{"model": "m", "metadata": {"\\ud800": "x"}}', "metadata.\\ud800"),
        ("POST", "/threads/{thread_id}/messages", b'{"role": "user", "content": "a\\udfffb"}', "content"),
        ("POST", "/threads", b'{"messages": [{"role": "user", "content": [{"type": "text", "text": "\\ud800"}]}]}',
         "messages[0].content[0].text"),
        ("POST", "/threads", b'{"metadata": ' + nested(5000, '"x"', "k") + b"}", "metadata.k"),
        ("POST", "/assistants", b'{"model": "m", "tools": [{"type": "function", "function": {"name": "f", '
                                b'"parameters": ' + nested(990, "{}", "p") + b"}}]}",
         "tools[0].function.parameters.p"),
        ("POST", "/assistants", b'{"model": "m", "name": ' + nested(100_000) + b"}", "name[0]"),
        ("POST", "/threads/{thread_id}/runs", b'{"assistant_id": "{assistant_id}", "max_prompt_tokens": '
                                              b'100000000000000000000}', "max_prompt_tokens"),
        ("POST", "/threads/runs", b'{"assistant_id": "{assistant_id}", "max_completion_tokens": '
                                  b'9223372036854775808}', "max_completion_tokens"),
        ("POST", "/threads/runs", b'{"assistant_id": "{assistant_id}", "max_prompt_tokens": 2147483648}',
         "max_prompt_tokens"),
        ("POST", "/threads/runs", b'{"assistant_id": "{assistant_id}", "truncation_strategy": '
                                  b'{"type": "last_messages", "last_messages": 100000000000000000000}}',
         "truncation_strategy.last_messages"),
        ("POST", "/assistants", b'{"model": "m", "name": "a\\u0000b"}', "name"),
        ("POST", "/threads", b'{"metadata": {"k": "\\u0000"}}', "metadata.k"),
        ("POST", "/threads/{thread_id}/messages", b'{"role": "user", "content": "\\u0000"}', "content"),
    ]

    def test_input_that_reads_could_not_serve_is_a_400_naming_its_param(self, api: Api,
                                                                       objects: dict[str, str]) -> None:
        for method, path, raw, param in self.POISON:
            thread_id = api.ok("POST", "/threads", {})["id"]  # empty, so that a run may start on it
            raw = raw.replace(b"{assistant_id}", objects["assistant_id"].encode())
            error = api.refused(method, path.format(thread_id=thread_id), raw)
            assert error["type"] == "invalid_request_error", error
            # too deep: the param is the path down to the first level beyond the limit
            assert error["param"] == param or "nested too deeply" in error["message"] and error["param"].startswith(
                param), (param, error)
            assert api.ok("GET", f"/threads/{thread_id}/messages")["data"] == [], param
            assert api.ok("GET", f"/threads/{thread_id}/runs")["data"] == [], param
        # UTF-16 needs no escape for a lone surrogate: only UTF-8 bodies are JSON here, as on OpenAI
        utf16 = '{"model": "m", "name": "\ud800"}'.encode("utf-16", "surrogatepass")
        assert api.send("POST", "/assistants", raw=utf16)[0] == 400
        assert len(api.ok("GET", "/assistants?limit=100")["data"]) == 1  # nothing half-stored
        self.everything_reads(api, objects)

    def test_what_is_accepted_is_stored_and_reads_back(self, api: Api, objects: dict[str, str]) -> None:
        biggest = 2**31 - 1
        run = api.ok("POST", "/threads/runs", {
            "assistant_id": objects["assistant_id"], "max_prompt_tokens": biggest, "max_completion_tokens": biggest,
            "truncation_strategy": {"type": "last_messages", "last_messages": biggest}}, model=Run)
        run = api.wait_for_run(run["thread_id"], run["id"], ("requires_action", "completed"))
        assert (run["max_prompt_tokens"], run["max_completion_tokens"]) == (biggest, biggest)
        assert run["truncation_strategy"] == {"type": "last_messages", "last_messages": biggest}
        text = "emoji \U0001f600, accents é, CJK 字, RTL \u05d0"
        thread = api.ok("POST", "/threads", {"messages": [{"role": "user", "content": text}],
                                             "metadata": {text[:10]: text}}, model=Thread)
        # body, tools, the tool, function: 4 levels; the schema takes the rest, up to the limit exactly
        deepest = {"type": "function", "function": {"name": "deep", "parameters": json.loads(
            nested(MAX_JSON_DEPTH - 5, "{}", "p"))}}
        assistant = api.ok("POST", "/assistants", {"model": "m", "tools": [deepest]}, model=Assistant)
        assert api.ok("GET", f"/assistants/{assistant['id']}")["tools"] == [deepest]
        helper: dict[str, Any] = {"file_ids": [api.file()], "metadata": {"k": "v"}, "chunking_strategy": {
            "type": "static", "static": {"max_chunk_size_tokens": 4096, "chunk_overlap_tokens": 2048}}}
        code_files = {"file_ids": [api.file()]}
        everything = {"model": "m", "tools": [
            {"type": "code_interpreter"},
            {"type": "file_search", "file_search": {"max_num_results": 50, "ranking_options": {
                "ranker": "default_2024_08_21", "score_threshold": 1}}}],
            "tool_resources": {"code_interpreter": code_files, "file_search": {"vector_stores": [helper]}},
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "n", "description": "d", "schema": {"type": "object"}, "strict": False}}}
        assistant = api.ok("POST", "/assistants", everything, model=Assistant)
        stored = api.ok("GET", f"/assistants/{assistant['id']}", None, Assistant)
        assert {k: stored[k] for k in everything if k != "tool_resources"} == {
            k: v for k, v in everything.items() if k != "tool_resources"}
        # The vector_stores helper is kept as the store it made, which has what it was given.
        resources = stored["tool_resources"]
        assert resources["code_interpreter"] == code_files
        [store_id] = resources["file_search"]["vector_store_ids"]
        assert api.ok("GET", f"/vector_stores/{store_id}")["metadata"] == helper["metadata"]
        [attached] = api.ok("GET", f"/vector_stores/{store_id}/files")["data"]
        assert attached["id"] == helper["file_ids"][0]
        assert attached["chunking_strategy"] == helper["chunking_strategy"]
        message = api.ok("GET", f"/threads/{thread['id']}/messages")["data"][0]
        assert message["content"][0]["text"]["value"] == text and thread["metadata"] == {text[:10]: text}

    # -- validation as strict as the SDK's param types, where a loose value would be echoed back -----------
    SCHEMA: ClassVar[list[tuple[dict[str, Any], str]]] = [
        ({"model": "m" * 257}, "model"),  # what every storage's model column holds
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "n", "strict": "yes"}}},
         "response_format.json_schema.strict"),
        ({"tools": [{"type": "file_search", "file_search": {"max_num_results": 0}}]},
         "tools[0].file_search.max_num_results"),
        ({"tools": [{"type": "file_search", "file_search": {"max_num_results": 51}}]},
         "tools[0].file_search.max_num_results"),
        ({"tools": [{"type": "file_search", "file_search": {"max_num_results": "5"}}]},
         "tools[0].file_search.max_num_results"),
        ({"tools": [{"type": "file_search", "file_search": {"ranking_options": {"ranker": "best",
                                                                                  "score_threshold": 0.5}}}]},
         "tools[0].file_search.ranking_options.ranker"),
        ({"tools": [{"type": "file_search", "file_search": {"ranking_options": {"score_threshold": 2}}}]},
         "tools[0].file_search.ranking_options.score_threshold"),
        ({"tools": [{"type": "file_search", "file_search": {"ranking_options": {}}}]},
         "tools[0].file_search.ranking_options.score_threshold"),
        ({"tools": [{"type": "file_search", "file_search": {"k": 1}}]}, "tools[0].file_search.k"),
        ({"tools": [{"type": "file_search", "file_search": None}]}, "tools[0].file_search"),
        ({"tools": [{"type": "code_interpreter", "code_interpreter": {}}]}, "tools[0].code_interpreter"),
        ({"tool_resources": {"code_interpreter": None}}, "tool_resources.code_interpreter"),
        ({"tool_resources": {"file_search": None}}, "tool_resources.file_search"),
        ({"tool_resources": {"code_interpreter": {"file_ids": None}}}, "tool_resources.code_interpreter.file_ids"),
    ]

    # vector stores are made on creating an assistant or a thread only
    CREATE_ONLY: ClassVar[list[tuple[dict[str, Any], str]]] = [
        ({"tool_resources": {"file_search": {"vector_stores": ["vs"]}}}, "tool_resources.file_search.vector_stores[0]"),
        ({"tool_resources": {"file_search": {"vector_stores": [{"chunking_strategy": {"type": "static"}}]}}},
         "tool_resources.file_search.vector_stores[0].chunking_strategy.static"),
        ({"tool_resources": {"file_search": {"vector_stores": [{"chunking_strategy": {"type": "static", "static": {
            "max_chunk_size_tokens": 100, "chunk_overlap_tokens": 51}}}]}}},
         "tool_resources.file_search.vector_stores[0].chunking_strategy.static.chunk_overlap_tokens"),
    ]

    def test_assistant_fields_as_strict_as_the_sdk_types(self, api: Api, objects: dict[str, str]) -> None:
        for fields, param in self.SCHEMA + self.CREATE_ONLY:
            status, body = api.send("POST", "/assistants", {"model": "m", **fields})
            assert (status, body["error"]["param"]) == (400, param), body
        for fields, param in self.SCHEMA:
            status, body = api.send("POST", f"/assistants/{objects['assistant_id']}", fields)
            assert (status, body["error"]["param"]) == (400, param), body
        for path in (f"/assistants/{objects['assistant_id']}", f"/threads/{objects['thread_id']}"):
            status, body = api.send("POST", path, {"tool_resources": {"file_search": {"vector_stores": []}}})
            assert (status, body["error"]["param"]) == (400, "tool_resources.file_search.vector_stores"), body
        assert len(api.ok("GET", "/assistants?limit=100")["data"]) == 1
        self.everything_reads(api, objects)

    MESSAGE_AND_RUN: ClassVar[list[tuple[str, dict[str, Any], str]]] = [
        ("/threads/{thread_id}/messages", {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": None}}]},
         "content[0].image_url.detail"),
        ("/threads/{thread_id}/messages", {"role": "user", "content": [
            {"type": "image_file", "image_file": {"file_id": "f", "detail": None}}]}, "content[0].image_file.detail"),
        ("/threads/{thread_id}/messages", {"role": "user", "content": "x", "attachments": [
            {"file_id": "f", "tools": [{"type": "file_search", "file_search": {}}]}]},
         "attachments[0].tools[0].file_search"),
        ("/threads/runs", {"thread": "x"}, "thread"),
        ("/threads/runs", {"thread": [["messages", []]]}, "thread"),
        ("/threads/runs", {"tool_resources": {"file_search": {"vector_stores": []}}},
         "tool_resources.file_search.vector_stores"),
        ("/threads/runs", {"tool_choice": {"type": "function", "function": {"name": "f"}, "x": 1}}, "tool_choice.x"),
        ("/threads/runs", {"tool_choice": {"type": "file_search", "function": None}}, "tool_choice.function"),
        ("/threads/runs", {"reasoning_effort": "extreme"}, "reasoning_effort"),
        ("/threads/runs", {"model": "m" * 257}, "model"),
        ("/threads/{thread_id}/runs", {"model": "m" * 257}, "model"),
    ]

    def test_message_and_run_fields_as_strict_as_the_sdk_types(self, api: Api, objects: dict[str, str]) -> None:
        thread_id = api.ok("POST", "/threads", {})["id"]
        for path, body, param in self.MESSAGE_AND_RUN:
            if "runs" in path:
                body = {"assistant_id": objects["assistant_id"], **body}
            status, answer = api.send("POST", path.format(thread_id=thread_id), body)
            assert (status, answer["error"]["param"]) == (400, param), answer
        assert api.ok("GET", f"/threads/{thread_id}/messages")["data"] == []
        self.everything_reads(api, objects)

    CHAT: ClassVar[list[tuple[dict[str, Any], str]]] = [
        ({"messages": [1.5]}, "messages[0]"),
        ({"messages": [{"content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [1]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {}}]}]},
         "messages[0].tool_calls[0].function.name"),
        ({"messages": [{"role": "user", "content": "x"}], "tools": ["f"]}, "tools[0]"),
        ({"messages": [{"role": "user", "content": "x"}], "stream_options": 1}, "stream_options"),
    ]

    def test_chat_messages_have_the_shape_adapters_read(self, api: Api) -> None:
        for body, param in self.CHAT:
            status, answer = api.send("POST", "/chat/completions", {"model": "scripted", **body})
            assert (status, answer["error"]["param"]) == (400, param), answer
        answer = api.ok("POST", "/chat/completions", {"model": "scripted", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "sunny"}]}, ChatCompletion)
        assert answer["choices"][0]["message"]["role"] == "assistant"

    # -- one rule for NUL in ids and cursors, whatever the storage --------------------------------------
    def test_an_id_with_nul_is_not_found_and_a_cursor_with_nul_is_a_400(self, api: Api,
                                                                       objects: dict[str, str]) -> None:
        for path in ("/assistants/asst_%00", "/threads/thread_%00", "/threads/%00/messages",
                     "/threads/{thread_id}/messages/msg_%00", "/threads/{thread_id}/runs/run%00",
                     "/threads/{thread_id}/runs/{run_id}/steps/step_%00"):
            status, body = api.send("GET", path.format(**objects))
            assert status == 404, (path, body)
        for path, query in (("/assistants", {"after": "asst_\x00"}), ("/assistants", {"before": "\x00"}),
                            ("/threads/{thread_id}/messages", {"after": "msg_\x00"}),
                            ("/threads/{thread_id}/messages", {"run_id": "r\x00"}),
                            ("/threads/{thread_id}/runs", {"before": "run_\x00"}),
                            ("/threads/{thread_id}/runs/{run_id}/steps", {"after": "\x00"})):
            status, body = api.send("GET", path.format(**objects), params=query)
            assert (status, body["error"]["param"]) == (400, next(iter(query))), (path, body)

    def test_a_405_says_which_methods_the_path_has(self, api: Api) -> None:
        response = api.http.request("DELETE", "/assistants")
        assert response.status_code == 405 and response.headers["allow"] == "POST, GET"
        response = api.http.request("PUT", "/threads/thread_x/runs/run_x")
        assert response.status_code == 405 and response.headers["allow"] == "GET, POST"

    # -- metadata updates merge, as on OpenAI --------------------------------------------------------------
    def test_metadata_updates_merge_into_what_is_there(self, api: Api, objects: dict[str, str]) -> None:
        t, done = objects["done_thread_id"], objects["done_run_id"]
        created = {
            "assistant": api.ok("POST", "/assistants", {"model": "m", "metadata": {"a": "1"}})["id"],
            "thread": api.ok("POST", "/threads", {"metadata": {"a": "1"}})["id"],
            "message": api.ok("POST", f"/threads/{t}/messages", {"role": "user", "content": "x",
                                                                  "metadata": {"a": "1"}})["id"],
        }
        api.ok("POST", f"/threads/{t}/runs/{done}", {"metadata": {"a": "1"}})
        paths = {"assistant": (f"/assistants/{created['assistant']}", Assistant),
                 "thread": (f"/threads/{created['thread']}", Thread),
                 "message": (f"/threads/{t}/messages/{created['message']}", Message),
                 "run": (f"/threads/{t}/runs/{done}", Run)}
        for kind, (path, model) in paths.items():
            assert api.ok("POST", path, {"metadata": {"b": "2"}}, model)["metadata"] == {"a": "1", "b": "2"}, kind
            assert api.ok("POST", path, {"metadata": {"a": ""}}, model)["metadata"] == {"a": "", "b": "2"}, kind
            nothing: dict[str, str] | None
            for nothing in ({}, None):
                assert api.ok("POST", path, {"metadata": nothing}, model)["metadata"] == {"a": "", "b": "2"}, kind
            assert api.ok("POST", path, {}, model)["metadata"] == {"a": "", "b": "2"}, kind
            api.ok("POST", path, {"metadata": {f"k{i}": "v" for i in range(14)}}, model)
            status, body = api.send("POST", path, {"metadata": {"one": "too many"}})
            assert (status, body["error"]["param"]) == (400, "metadata"), (kind, body)
            assert len(api.ok("GET", path, None, model)["metadata"]) == 16, kind
            assert api.ok("POST", path, {"metadata": {"k0": "changed"}}, model)["metadata"]["k0"] == "changed", kind

    # -- fuzzing every endpoint with bodies made from the installed SDK's param types ------------------
    def test_fuzzed_requests_get_the_envelope_or_readable_objects(self, api: Api, objects: dict[str, str]) -> None:
        endpoints = fuzzed_endpoints()
        created: list[tuple[str, Any]] = []

        @settings(max_examples=FUZZ_EXAMPLES, derandomize=FUZZ_DERANDOMIZE, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.data())
        def one_request(data: st.DataObject) -> None:
            name, method, path, strategy, model = data.draw(st.sampled_from(endpoints), label="endpoint")
            fresh = api.ok("POST", "/threads", {})["id"] if "{fresh_thread_id}" in path else None
            path = path.format(fresh_thread_id=fresh, **objects)
            body = data.draw(strategy, label="body") if strategy is not None else None
            if isinstance(body, dict) and body.get("assistant_id") == "{assistant_id}":
                body["assistant_id"] = objects["assistant_id"]
            if isinstance(body, dict) and body.get("file_id") == "{vs_file_id}":
                body["file_id"] = objects["vs_file_id"]
            if name == "submit tool outputs" and isinstance(body, dict) and isinstance(body.get("tool_outputs"), list):
                for output in body["tool_outputs"]:  # answer the pending call, so that an answer can be a 200
                    if isinstance(output, dict) and "tool_call_id" in output:
                        output["tool_call_id"] = objects["call_id"]
            if method == "GET":
                status, answer = api.send("GET", path, params=body)
            else:
                status, answer = api.send(method, path, raw=json.dumps(body).encode() if body is not None else None)
            if status < 400 and model is CreateEmbeddingResponse:
                readable(model, embeddings_as_floats(answer))
            elif status < 400 and model is VectorStoreSearchResponse:  # a page the SDK reads item by item
                assert answer["object"] == "vector_store.search_results.page", answer
                for item in answer["data"]:
                    readable(model, item)
            elif status < 400 and model is not None:
                if answer.get("object") == "list":
                    readable_list(model, answer)
                else:
                    readable(model, answer)
                    if name.startswith("create"):
                        created.append((name, answer))

        one_request()
        for name, obj in created:  # every fuzzed object reads back, alone and in its list
            self.reads_back(api, name, obj)
        self.everything_reads(api, objects)

    def reads_back(self, api: Api, name: str, obj: dict[str, Any]) -> None:
        kind = obj["object"]
        if kind == "assistant":
            readable(Assistant, api.ok("GET", f"/assistants/{obj['id']}"))
            readable_list(Assistant, api.ok("GET", "/assistants?limit=100"))
        elif kind == "thread":
            readable(Thread, api.ok("GET", f"/threads/{obj['id']}"))
            readable_list(Message, api.ok("GET", f"/threads/{obj['id']}/messages?limit=100"))
        elif kind == "thread.message":
            readable(Message, api.ok("GET", f"/threads/{obj['thread_id']}/messages/{obj['id']}"))
            readable_list(Message, api.ok("GET", f"/threads/{obj['thread_id']}/messages?limit=100"))
        elif kind == "thread.run":
            run = api.wait_for_run(obj["thread_id"], obj["id"], TERMINAL_OR_WAITING)
            readable_list(Run, api.ok("GET", f"/threads/{obj['thread_id']}/runs?limit=100"))
            readable_list(RunStep, api.ok("GET", f"/threads/{obj['thread_id']}/runs/{run['id']}/steps"))
            readable_list(Message, api.ok("GET", f"/threads/{obj['thread_id']}/messages?limit=100"))
        elif kind == "vector_store":
            readable(VectorStore, api.ok("GET", f"/vector_stores/{obj['id']}"))
            readable_list(VectorStore, api.ok("GET", "/vector_stores?limit=100"))
        elif kind == "vector_store.file":
            readable(VectorStoreFile, api.ok("GET", f"/vector_stores/{obj['vector_store_id']}/files/{obj['id']}"))
        elif kind == "vector_store.files_batch":
            path = f"/vector_stores/{obj['vector_store_id']}/file_batches/{obj['id']}"
            readable(VectorStoreFileBatch, api.ok("GET", path))
            readable_list(VectorStoreFile, api.ok("GET", path + "/files?limit=100"))
        else:  # pragma: no cover - fuzzed_endpoints only names the kinds above as created
            raise AssertionError(f"{name} created a {kind}")


TERMINAL_OR_WAITING = ("requires_action", "completed", "failed", "cancelled", "expired", "incomplete")
FUZZ_EXAMPLES = 300
FUZZ_DERANDOMIZE = True


# -- strategies from the installed openai package's param types ------------------------------------------
_NAMES = st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=1, max_size=10)
_TEXT = st.one_of(_NAMES, st.text(max_size=12))
_JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.floats(allow_nan=False,
                       allow_infinity=False, width=32), _TEXT)
_JSON = st.recursive(_JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(_NAMES, inner, max_size=3)), max_leaves=6)


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


# What a careless or hostile client sends: values JSON can't carry, numbers no storage holds, text no
# database takes, nesting beyond the limit, wrong types and nulls.
HOSTILE = st.sampled_from([math.nan, math.inf, -math.inf, 10**20, 2**63, 2**31, -1, 0, 1.5, "\ud800",
                           "x\x00y", "", "z" * 600, None, True, [], {}, {"unknown": 1}, _deep(70)])


def _unwrap(tp: Any) -> Any:
    while typing_extensions.get_origin(tp) in (typing_extensions.Annotated, typing_extensions.Required,
                                               typing_extensions.NotRequired):
        tp = typing_extensions.get_args(tp)[0]
    return tp


def from_type(tp: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of a param type of the openai package, found by introspection (nothing copied from its spec)."""
    tp = _unwrap(tp)
    origin, args = typing_extensions.get_origin(tp), typing_extensions.get_args(tp)
    if tp is str:
        return _TEXT
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(-2, 300)
    if tp is float:
        return st.floats(-0.5, 2.5, allow_nan=False)
    if tp is type(None):
        return st.none()
    if tp is object or tp is Any:
        return _JSON
    if origin in (typing.Literal, typing_extensions.Literal):
        return st.sampled_from(args)
    if origin is typing.Union:
        return st.one_of([from_type(a, depth) for a in args])
    if typing_extensions.is_typeddict(tp):
        return _typed_dict(tp, depth)
    if origin in (dict, collections.abc.Mapping):
        return st.dictionaries(_NAMES, from_type(args[1], depth + 1), max_size=3)
    if args and depth < 6:  # Iterable, Sequence, List, SequenceNotStr...
        return st.lists(from_type(args[0], depth + 1), max_size=2)
    return st.just([])


def _typed_dict(tp: Any, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    hints = typing_extensions.get_type_hints(tp, include_extras=True)
    # The SDK's modules use string annotations, which TypedDict can't read Required from: look at the hints.
    required_form: Any = typing_extensions.Required  # a special form, which get_origin returns as it is
    needed = {k for k, v in hints.items()
              if k in tp.__required_keys__ or typing_extensions.get_origin(v) is required_form}
    required = {k: from_type(v, depth + 1) for k, v in hints.items() if k in needed and k not in PATH_PARAMS}
    optional = {} if depth > 6 else {k: from_type(v, depth + 1) for k, v in hints.items()
                                     if k not in needed and k not in PATH_PARAMS}
    return st.fixed_dictionaries(required, optional=optional)


# Keys of the SDK's param types that travel in the path or in headers, and "stream" (answers an event stream).
PATH_PARAMS = frozenset({"thread_id", "run_id", "vector_store_id", "stream", "include"})


@st.composite
def hostile_body(draw: Any, base: st.SearchStrategy[Any]) -> Any:
    """A body from ``base``, maybe with one value (or key) replaced by a hostile one."""
    body = draw(base)
    if not draw(st.booleans()):
        return body
    slots: list[tuple[Any, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k in list(value):
                slots.append((value, k))
                walk(value[k])
        elif isinstance(value, list):
            for i, item in enumerate(value):
                slots.append((value, i))
                walk(item)
    walk(body)
    if not slots:
        return draw(HOSTILE) if draw(st.booleans()) else {"unknown": draw(HOSTILE)}
    container, at = draw(st.sampled_from(slots))
    if isinstance(container, dict) and draw(st.integers(0, 4)) == 0:
        container["\ud800" if draw(st.booleans()) else "k\x00"] = container.pop(at)  # a hostile key
    else:
        container[at] = draw(HOSTILE)
    return body


def _query(tp: Any) -> st.SearchStrategy[dict[str, Any]]:
    """A list endpoint's query: its params' values, or hostile ones, as text."""
    value = st.one_of(from_type(str), st.integers(-5, 200), st.sampled_from(["asc", "desc", "\x00", "%00", ""]))
    hints = typing_extensions.get_type_hints(tp)
    return st.fixed_dictionaries({}, optional={k: value for k in hints if k not in PATH_PARAMS})


def fuzzed_endpoints() -> list[tuple[str, str, str, Any, Any]]:
    from openai.types import (
        chat,
        embedding_create_params,
        vector_store_create_params,
        vector_store_list_params,
        vector_store_search_params,
        vector_store_update_params,
    )
    from openai.types.beta import (
        assistant_create_params,
        assistant_list_params,
        assistant_update_params,
        thread_create_and_run_params,
        thread_create_params,
        thread_update_params,
    )
    from openai.types.beta.threads import (
        message_create_params,
        message_list_params,
        message_update_params,
        run_create_params,
        run_list_params,
        run_submit_tool_outputs_params,
        run_update_params,
    )
    from openai.types.beta.threads.runs import step_list_params
    from openai.types.vector_stores import (
        file_batch_create_params,
        file_batch_list_files_params,
        file_create_params,
        file_list_params,
        file_update_params,
    )

    def body(tp: Any, *fixed: tuple[str, Any]) -> st.SearchStrategy[Any]:
        base = from_type(tp).map(lambda b: {**b, **dict(fixed)})
        return hostile_body(base)

    run_tool_outputs = run_submit_tool_outputs_params.RunSubmitToolOutputsParamsNonStreaming
    t, r = "/threads/{thread_id}", "/threads/{thread_id}/runs/{run_id}"
    vs = "/vector_stores/{vector_store_id}"
    return [
        ("create assistant", "POST", "/assistants", body(assistant_create_params.AssistantCreateParams), Assistant),
        ("update assistant", "POST", "/assistants/{assistant_id}", body(assistant_update_params.AssistantUpdateParams),
         Assistant),
        ("list assistants", "GET", "/assistants", _query(assistant_list_params.AssistantListParams), Assistant),
        ("create thread", "POST", "/threads", body(thread_create_params.ThreadCreateParams), Thread),
        ("update thread", "POST", t, body(thread_update_params.ThreadUpdateParams), Thread),
        ("create message", "POST", t + "/messages", body(message_create_params.MessageCreateParams), Message),
        ("update message", "POST", t + "/messages/{message_id}", body(message_update_params.MessageUpdateParams),
         Message),
        ("list messages", "GET", t + "/messages", _query(message_list_params.MessageListParams), Message),
        ("create run", "POST", "/threads/{fresh_thread_id}/runs",
         body(run_create_params.RunCreateParamsNonStreaming, ("assistant_id", "{assistant_id}")), Run),
        ("create thread and run", "POST", "/threads/runs",
         body(thread_create_and_run_params.ThreadCreateAndRunParamsNonStreaming, ("assistant_id", "{assistant_id}")),
         Run),
        ("update run", "POST", r, body(run_update_params.RunUpdateParams), Run),
        ("list runs", "GET", t + "/runs", _query(run_list_params.RunListParams), Run),
        ("submit tool outputs", "POST", r + "/submit_tool_outputs", body(run_tool_outputs), Run),
        ("cancel", "POST", "/threads/{done_thread_id}/runs/{done_run_id}/cancel", None, Run),
        ("list steps", "GET", "/threads/{done_thread_id}/runs/{done_run_id}/steps",
         _query(step_list_params.StepListParams), RunStep),
        ("retrieve step", "GET", "/threads/{done_thread_id}/runs/{done_run_id}/steps/{step_id}", None, RunStep),
        ("chat completion", "POST", "/chat/completions",
         body(chat.completion_create_params.CompletionCreateParamsNonStreaming, ("model", "scripted")), ChatCompletion),
        # base64 is decoded first (the SDK decodes it itself, outside its types), then read as floats
        *(("create embeddings", "POST", "/embeddings",
           body(embedding_create_params.EmbeddingCreateParams, ("encoding_format", encoding)),
           CreateEmbeddingResponse) for encoding in ("float", "base64")),
        ("list models", "GET", "/models", None, Model),
        ("retrieve model", "GET", "/models/scripted", None, Model),
        ("delete thread", "DELETE", "/threads/{fresh_thread_id}", None, ThreadDeleted),
        ("create vector store", "POST", "/vector_stores", body(vector_store_create_params.VectorStoreCreateParams),
         VectorStore),
        ("update vector store", "POST", vs, body(vector_store_update_params.VectorStoreUpdateParams), VectorStore),
        ("list vector stores", "GET", "/vector_stores", _query(vector_store_list_params.VectorStoreListParams),
         VectorStore),
        ("search vector store", "POST", vs + "/search", body(vector_store_search_params.VectorStoreSearchParams),
         VectorStoreSearchResponse),
        ("create vector store file", "POST", vs + "/files",
         body(file_create_params.FileCreateParams, ("file_id", "{vs_file_id}")), VectorStoreFile),
        ("update vector store file", "POST", vs + "/files/{vs_file_id}", body(file_update_params.FileUpdateParams),
         VectorStoreFile),
        ("list vector store files", "GET", vs + "/files", _query(file_list_params.FileListParams), VectorStoreFile),
        ("create file batch", "POST", vs + "/file_batches",
         body(file_batch_create_params.FileBatchCreateParams), VectorStoreFileBatch),
        ("list file batch files", "GET", vs + "/file_batches/{vs_batch_id}/files",
         _query(file_batch_list_files_params.FileBatchListFilesParams), VectorStoreFile),
    ]

