"""FileSearchTests: the ``file_search`` built-in tool end to end through the real openai SDK (sync and
async clients): files uploaded into vector stores, an assistant searching them, the model's markers
turned into ``file_citation`` annotations, polled and streamed, with the provider behind it.

Fixtures a subclass may override:

- ``scripted_provider`` (``.adapter``, ``.script(*Reply)``, ``.fail(status, message)``, as for
  ClientAdapterTests): the model; by default core's scripted adapter. A loopback fake of a provider
  also overrides the request views below, which read what the provider was sent in its own format;
- ``storage_adapter`` (None: memory) and ``embedder`` (the deterministic fake; not None);
- ``client``: an openai client of ``kit_app``, sync and async in process by default;
  :func:`in_process_client` of fewer kinds, :func:`served_client` over HTTP instead (a real uvicorn
  server on loopback).

    class TestAcmeFileSearch(FileSearchTests):
        scripted_provider = ScriptedFakeAcme.fixture()
        client = in_process_client()

        def model_requests(self, scripted_provider): ...   # the fake's recorded request bodies
        def tool_results(self, body): ...                  # and what each one says, as below
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai

from ..app import App
from ..embedders import Embedder, EmbedKind
from ..file_search import CONTENT, DEFAULT_RANKER, file_search_tool, marker
from ..loop import run_sync
from .contract import call, collect
from .embedders import fake_embedder
from .kit import Kit, fixture, pytest
from .scripted import Reply, scripted_client_adapter
from .serving import server_fixture
from .tool_runs import annotations_of, expected_annotations
from .vector_stores import MARMOT, app_client, upload

FILE_SEARCH = {"type": "file_search"}
QUERY = "marmot ledgers"
ANSWER = f"A marmot audits the ledgers {marker(0, 0)}."
# For several results: files that share more or fewer of the query's words, so that every index ranks
# them alike, without ties, by keywords and by vectors: LEDGERS, MARMOT, WHISTLES, then RIVERS if at all
# (a tie could be broken either way, and the fused scores with it).
LEDGERS = "Marmot ledgers, marmot ledgers."
WHISTLES = "A marmot whistles to warn its colony of eagles."
RIVERS = "The Danube flows through ten countries before reaching the Black Sea."


class HeldEmbeddings:
    """An embedder that embeds as ``inner`` does, except that once :meth:`hold` is called for a kind
    (``"query"``: a search's; ``"document"``: an ingestion's) those calls wait until :meth:`release`;
    ``held`` is set when one is waiting."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.model, self.dimensions = inner, inner.model, inner.dimensions
        self.held, self.released = threading.Event(), threading.Event()
        self._holding: set[str] = set()

    def hold(self, kind: EmbedKind) -> None:
        self._holding.add(kind)

    def release(self) -> None:
        self.released.set()

    async def embed(self, texts: list[str], *, kind: EmbedKind = "document") -> list[list[float]]:
        if kind in self._holding:
            self.held.set()
            while not self.released.is_set():  # a thread's event: the App may serve on any loop
                await asyncio.sleep(0.01)
        return await self.inner.embed(texts, kind=kind)

    async def close(self) -> None:
        await self.inner.close()


class CountedSearches:
    """A chunk index that searches as ``inner`` does and records how many searches had ended when it
    was closed (``ended_at_close``)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.ended = inner, 0
        self.ended_at_close: int | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def search(self, query: Any) -> Any:
        found = await self.inner.search(query)
        self.ended += 1
        return found

    async def close(self) -> None:
        self.ended_at_close = self.ended
        await self.inner.close()


class _Stream:
    """What an event handler was told: every event, tool calls created and done, text deltas and the
    messages done."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.created: list[Any] = []
        self.done: list[Any] = []
        self.text_deltas: list[Any] = []
        self.messages: list[Any] = []

    @property
    def text(self) -> str:
        return "".join(d.value or "" for d in self.text_deltas)

    def annotation_deltas(self) -> list[dict[str, Any]]:
        return [a.model_dump(exclude_none=True) for d in self.text_deltas for a in d.annotations or ()]


class _SyncHandler(openai.AssistantEventHandler):
    def __init__(self, seen: _Stream) -> None:
        super().__init__()
        self.seen = seen

    def on_event(self, event: Any) -> None:
        self.seen.events.append(event)

    def on_tool_call_created(self, tool_call: Any) -> None:
        self.seen.created.append(tool_call.model_copy(deep=True))

    def on_tool_call_done(self, tool_call: Any) -> None:
        self.seen.done.append(tool_call.model_copy(deep=True))

    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.seen.text_deltas.append(delta)

    def on_message_done(self, message: Any) -> None:
        self.seen.messages.append(message)


class _AsyncHandler(openai.AsyncAssistantEventHandler):
    def __init__(self, seen: _Stream) -> None:
        super().__init__()
        self.seen = seen

    async def on_event(self, event: Any) -> None:
        self.seen.events.append(event)

    async def on_tool_call_created(self, tool_call: Any) -> None:
        self.seen.created.append(tool_call.model_copy(deep=True))

    async def on_tool_call_done(self, tool_call: Any) -> None:
        self.seen.done.append(tool_call.model_copy(deep=True))

    async def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.seen.text_deltas.append(delta)

    async def on_message_done(self, message: Any) -> None:
        self.seen.messages.append(message)


async def streamed(client: Any, **kwargs: Any) -> _Stream:
    """``client.beta.threads.runs.stream(**kwargs)`` with an event handler, to its end."""
    seen = _Stream()
    if isinstance(client, openai.AsyncOpenAI):
        async with client.beta.threads.runs.stream(event_handler=_AsyncHandler(seen), **kwargs) as stream:
            await stream.until_done()
    else:
        with client.beta.threads.runs.stream(event_handler=_SyncHandler(seen), **kwargs) as stream:
            stream.until_done()
    return seen


def results_of(step: Any) -> list[dict[str, Any]]:
    """The results of a step's file_search call, as the client was sent them (no key it wasn't)."""
    [tool_call] = step.step_details.tool_calls
    assert tool_call.type == "file_search"
    return [r.model_dump(exclude_unset=True) for r in tool_call.file_search.results]


class FileSearchTests(Kit, standard=True):
    @fixture
    def scripted_provider(self) -> Any:
        return scripted_client_adapter()

    @fixture
    def storage_adapter(self) -> Any:
        return None  # memory

    @fixture
    def embedder(self) -> Any:
        return fake_embedder()

    @fixture
    def kit_app(self, scripted_provider: Any, storage_adapter: Any, embedder: Any) -> Iterator[App]:
        app = App(client_adapter=scripted_provider.adapter, storage_adapter=storage_adapter,
                  embedder=HeldEmbeddings(embedder), tools=[file_search_tool()])
        yield app
        run_sync(app.aclose(grace=0))  # its runs, jobs and heartbeat, then the storage

    @fixture(params=["sync-client", "async-client"])
    def client(self, request: pytest.FixtureRequest, kit_app: App) -> Any:
        return app_client(kit_app, request.param)

    kit_server = server_fixture()

    # -- what the provider was sent, in its own format (chat completions here) ----------------------
    def model_requests(self, scripted_provider: Any) -> list[dict[str, Any]]:
        """The bodies of the model requests the provider received, oldest first."""
        return list(scripted_provider.requests)

    def tool_results(self, body: dict[str, Any]) -> list[str]:
        """The text of every tool result in a request, in order."""
        return [m["content"] for m in body["messages"] if m["role"] == "tool"]

    def tool_calls(self, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """``(name, arguments)`` of every tool call of the assistant's turns in a request, in order."""
        calls = [c["function"] for m in body["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or ()]
        return [(c["name"], c["arguments"] if isinstance(c["arguments"], dict) else json.loads(c["arguments"]))
                for c in calls]

    def forced_function(self, body: dict[str, Any]) -> str | None:
        """The function a request makes the model call, or None."""
        choice = body.get("tool_choice")
        return choice["function"]["name"] if isinstance(choice, dict) else None

    # -- set up ---------------------------------------------------------------------------------------
    async def _store(self, client: Any, *files: tuple[str, str]) -> tuple[str, list[Any]]:
        """A vector store of ``files`` (name, text), ingested."""
        uploaded = [await upload(client, name, text) for name, text in files]
        store = await call(client.vector_stores.create(name="docs", file_ids=[f.id for f in uploaded]))
        for file in uploaded:
            attached = await call(client.vector_stores.files.poll(file.id, vector_store_id=store.id))
            assert attached.status == "completed", attached.last_error
        return store.id, uploaded

    async def _setup(self, client: Any, *files: tuple[str, str], tool: dict[str, Any] = FILE_SEARCH
                     ) -> tuple[Any, Any, list[Any]]:
        """An assistant searching a store of ``files`` (MARMOT alone by default), and a thread."""
        store_id, uploaded = await self._store(client, *(files or [("marmot.txt", MARMOT)]))
        a = await call(client.beta.assistants.create(
            model="test-model", instructions="Answer from the files.", tools=[tool],
            tool_resources={"file_search": {"vector_store_ids": [store_id]}}))
        t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "Who audits?"}]))
        return a, t, uploaded

    async def _steps(self, client: Any, t: Any, run: Any, **options: Any) -> list[Any]:
        return await collect(client.beta.threads.runs.steps.list(run.id, thread_id=t.id, order="asc", **options))

    async def _answer(self, client: Any, t: Any) -> Any:
        [message] = (await call(client.beta.threads.messages.list(t.id, limit=1))).data
        assert message.role == "assistant"
        return message

    @staticmethod
    def _search_then(scripted_provider: Any, text: str, *queries: str) -> None:
        scripted_provider.script(Reply(tool_calls=[("file_search", {"queries": list(queries or [QUERY])})]),
                                 Reply(text=text))

    # -- tests ----------------------------------------------------------------------------------------
    async def test_a_run_cites_the_file_it_searched(self, client: Any, scripted_provider: Any) -> None:
        self._search_then(scripted_provider, ANSWER)
        a, t, [file] = await self._setup(client)
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "completed", run.last_error

        answer = await self._answer(client, t)
        [block] = answer.content
        assert block.text.value == ANSWER
        [note] = annotations_of(block)
        assert note == {"type": "file_citation", "text": marker(0, 0), "file_citation": {"file_id": file.id},
                        "start_index": ANSWER.index(marker(0, 0)),
                        "end_index": ANSWER.index(marker(0, 0)) + len(marker(0, 0))}
        assert ANSWER[note["start_index"]:note["end_index"]] == note["text"]

        search, message = await self._steps(client, t, run)
        assert [(s.type, s.status) for s in (search, message)] == [("tool_calls", "completed"),
                                                                    ("message_creation", "completed")]
        assert message.step_details.message_creation.message_id == answer.id
        [tool_call] = search.step_details.tool_calls
        assert tool_call.type == "file_search"
        shown = tool_call.file_search.model_dump(exclude_unset=True)
        assert shown["ranking_options"] == {"ranker": DEFAULT_RANKER, "score_threshold": 0.0}
        [result] = shown["results"]
        assert set(result) == {"file_id", "file_name", "score"}  # no content unless asked
        assert (result["file_id"], result["file_name"]) == (file.id, "marmot.txt") and result["score"] > 0

        sent = self.model_requests(scripted_provider)
        assert len(sent) == 2 and self.tool_results(sent[0]) == []
        [replayed] = self.tool_results(sent[1])
        assert marker(0, 0) in replayed and MARMOT in replayed
        assert self.tool_calls(sent[1]) == [("file_search", {"queries": [QUERY]})]

    async def test_a_streamed_run(self, client: Any, scripted_provider: Any) -> None:
        text = f"Marmots {marker(0, 0)} audit, as {marker(0, 0)} says."
        self._search_then(scripted_provider, text)
        a, t, [file] = await self._setup(client)
        seen = await streamed(client, thread_id=t.id, assistant_id=a.id)
        assert seen.events[-1].event == "thread.run.completed"
        run = seen.events[-1].data
        [search, _] = await self._steps(client, t, run)
        call_id = search.step_details.tool_calls[0].id
        assert [(c.type, c.id) for c in seen.created] == [("file_search", call_id)]
        # The SDK tells a call done again at every later step's end and the run's: the same call.
        assert seen.done and {(c.type, c.id) for c in seen.done} == {("file_search", call_id)}
        # As OpenAI's, a file_search delta's body is always empty: the results come with the step's end.
        deltas = [c.model_dump(exclude_unset=True) for e in seen.events if e.event == "thread.run.step.delta"
                  for c in e.data.delta.step_details.tool_calls]
        assert deltas == [{"index": 0, "id": call_id, "type": "file_search", "file_search": {}}]
        [completed] = [e.data for e in seen.events
                       if e.event == "thread.run.step.completed" and e.data.type == "tool_calls"]
        assert results_of(completed) == results_of(search) and results_of(search)

        answer = await self._answer(client, t)
        [message] = seen.messages
        assert message.id == answer.id and message.content == answer.content
        assert seen.text == answer.content[0].text.value == text
        expected = expected_annotations(text, [file.id, file.id])
        assert annotations_of(answer.content[0]) == expected
        # Every annotation arrives whole, in one delta, with the message's own indexes.
        assert seen.annotation_deltas() == [{**note, "index": i} for i, note in enumerate(expected)]

    async def test_include_shows_the_results_content(self, client: Any, scripted_provider: Any) -> None:
        self._search_then(scripted_provider, ANSWER)
        a, t, [file] = await self._setup(client)
        events = await collect(await call(client.beta.threads.runs.create(
            thread_id=t.id, assistant_id=a.id, include=[CONTENT], stream=True)))
        assert events[-1].event == "thread.run.completed"
        [completed] = [e.data for e in events
                       if e.event == "thread.run.step.completed" and e.data.type == "tool_calls"]
        [result] = results_of(completed)
        assert result["content"] == [{"type": "text", "text": MARMOT}] and result["file_id"] == file.id

        run = events[-1].data
        without = results_of((await self._steps(client, t, run))[0])
        assert without == [{k: v for k, v in result.items() if k != "content"}]
        assert results_of((await self._steps(client, t, run, include=[CONTENT]))[0]) == [result]
        retrieve = client.beta.threads.runs.steps.retrieve
        assert results_of(await call(retrieve(completed.id, thread_id=t.id, run_id=run.id))) == without
        assert results_of(await call(retrieve(completed.id, thread_id=t.id, run_id=run.id,
                                              include=[CONTENT]))) == [result]

    async def test_markers_the_model_made_up_are_removed(self, client: Any, scripted_provider: Any) -> None:
        text = f"Marmots {marker(0, 0)} audit, eagles {marker(5, 0)} watch and owls {marker(0, 9)} sleep."
        self._search_then(scripted_provider, text)
        a, t, [file] = await self._setup(client)
        seen = await streamed(client, thread_id=t.id, assistant_id=a.id)
        assert seen.events[-1].event == "thread.run.completed"
        kept = f"Marmots {marker(0, 0)} audit, eagles  watch and owls  sleep."
        answer = await self._answer(client, t)
        assert seen.text == answer.content[0].text.value == kept
        assert annotations_of(answer.content[0]) == expected_annotations(kept, [file.id])
        assert [a["file_citation"]["file_id"] for a in seen.annotation_deltas()] == [file.id]

    async def test_max_num_results_and_score_threshold(self, client: Any, scripted_provider: Any) -> None:
        files = [("marmot.txt", MARMOT), ("ledgers.txt", LEDGERS), ("whistles.txt", WHISTLES),
                 ("rivers.txt", RIVERS)]
        a, t, uploaded = await self._setup(client, *files)
        ids = {f.id for f in uploaded}

        async def searched(**options: Any) -> tuple[list[dict[str, Any]], str]:
            self._search_then(scripted_provider, "Done.")
            tool = {"type": "file_search", "file_search": options} if options else FILE_SEARCH
            run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id,
                                                                      tools=[tool]))
            assert run.status == "completed", run.last_error
            [replayed] = self.tool_results(self.model_requests(scripted_provider)[-1])[-1:]
            return results_of((await self._steps(client, t, run))[0]), replayed

        every, _ = await searched()
        scores = [r["score"] for r in every]
        assert [r["file_name"] for r in every[:3]] == ["ledgers.txt", "marmot.txt", "whistles.txt"]
        assert {r["file_id"] for r in every} <= ids and scores == sorted(scores, reverse=True)
        top, replayed = await searched(max_num_results=2)
        assert top == every[:2]
        assert [marker(0, i) in replayed for i in range(3)] == [True, True, False]  # the model saw two
        levels = sorted(set(scores), reverse=True)
        assert len(levels) >= 2, f"the files should score apart: {every}"
        threshold = (levels[0] + levels[1]) / 2
        above, replayed = await searched(ranking_options={"score_threshold": threshold})
        assert above == [r for r in every if r["score"] >= threshold] and 0 < len(above) < len(every)
        run = (await call(client.beta.threads.runs.list(t.id, limit=1))).data[0]
        shown = (await self._steps(client, t, run))[0].step_details.tool_calls[0].file_search
        assert shown.ranking_options.model_dump() == {"ranker": DEFAULT_RANKER, "score_threshold": threshold}

    async def test_tool_choice_forces_a_search_on_the_first_turn_only(self, client: Any,
                                                                       scripted_provider: Any) -> None:
        self._search_then(scripted_provider, ANSWER)
        a, t, _ = await self._setup(client)
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id,
                                                                  tool_choice=FILE_SEARCH))
        assert run.status == "completed", run.last_error
        assert run.tool_choice.model_dump(exclude_unset=True) == FILE_SEARCH
        first, second = self.model_requests(scripted_provider)
        assert (self.forced_function(first), self.forced_function(second)) == ("file_search", None)

    async def test_a_later_run_is_shown_the_search(self, client: Any, scripted_provider: Any) -> None:
        self._search_then(scripted_provider, ANSWER)
        scripted_provider.script(Reply(text="Still the marmot."))
        a, t, _ = await self._setup(client)
        first = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert first.status == "completed", first.last_error
        await call(client.beta.threads.messages.create(t.id, role="user", content="Are you sure?"))
        second = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert second.status == "completed", second.last_error
        sent = self.model_requests(scripted_provider)
        assert len(sent) == 3
        assert self.tool_calls(sent[2]) == [("file_search", {"queries": [QUERY]})]
        [replayed] = self.tool_results(sent[2])
        # Without its markers: they name the results of the run that searched, not of this one.
        assert MARMOT in replayed and "marmot.txt" in replayed and "【" not in replayed
        # and the answer that cited it, without its marker either
        uncited = ANSWER.replace(marker(0, 0), "")
        shown = json.dumps(sent[2], ensure_ascii=False)
        assert uncited in shown and marker(0, 0) not in shown

    async def test_a_provider_failing_after_the_search_fails_the_run(self, client: Any,
                                                                     scripted_provider: Any) -> None:
        scripted_provider.script(Reply(tool_calls=[("file_search", {"queries": [QUERY]})]))
        scripted_provider.fail(500, "provider says no")
        a, t, [file] = await self._setup(client)
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "failed" and run.last_error.code == "server_error"
        assert "provider says no" in run.last_error.message
        [search] = await self._steps(client, t, run)
        assert search.status == "completed" and [r["file_id"] for r in results_of(search)] == [file.id]
        assert len(self.model_requests(scripted_provider)) == 2

    async def test_a_cancel_during_a_search_ends_the_run(self, client: Any, scripted_provider: Any,
                                                         kit_app: App) -> None:
        embedder = kit_app.embedder
        assert isinstance(embedder, HeldEmbeddings)
        scripted_provider.script(Reply(tool_calls=[("file_search", {"queries": [QUERY]})]))
        a, t, _ = await self._setup(client)
        embedder.hold("query")
        unstuck = threading.Timer(30, embedder.release)  # a run that waits for the search fails, not hangs
        unstuck.start()
        try:
            run = await call(client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id))
            assert await asyncio.to_thread(embedder.held.wait, 30), "the search never started"
            await call(client.beta.threads.runs.cancel(run.id, thread_id=t.id))
            run = await call(client.beta.threads.runs.poll(run.id, thread_id=t.id))
            assert run.status == "cancelled"
            assert not embedder.released.is_set(), "the cancel waited for the search to end"
            [step] = await self._steps(client, t, run)
            assert step.status == "cancelled" and step.cancelled_at
            assert step.step_details.tool_calls[0].type == "file_search"
        finally:
            unstuck.cancel()
            embedder.release()
        assert len(self.model_requests(scripted_provider)) == 1

    async def test_a_search_without_stores_finds_nothing(self, client: Any, scripted_provider: Any) -> None:
        self._search_then(scripted_provider, "Nothing to cite.")
        a = await call(client.beta.assistants.create(model="test-model", tools=[FILE_SEARCH]))
        t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "Who audits?"}]))
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id))
        assert run.status == "completed", run.last_error
        search, _ = await self._steps(client, t, run)
        assert results_of(search) == []
        [replayed] = self.tool_results(self.model_requests(scripted_provider)[1])
        assert "No results found." in replayed
        assert (await self._answer(client, t)).content[0].text.value == "Nothing to cite."

    # -- stores made for the run's files --------------------------------------------------------------
    async def _cites(self, client: Any, scripted_provider: Any, t: Any, run: Any, file: Any) -> None:
        """``run`` (scripted by ``_search_then(..., ANSWER)``) searched and answered citing ``file``,
        its only result."""
        run = await call(client.beta.threads.runs.poll(run.id, thread_id=t.id))
        assert run.status == "completed", run.last_error
        search, _ = await self._steps(client, t, run)
        assert [(r["file_id"], r["file_name"]) for r in results_of(search)] == [(file.id, "marmot.txt")]
        answer = await self._answer(client, t)
        assert annotations_of(answer.content[0]) == expected_annotations(ANSWER, [file.id])
        [replayed] = self.tool_results(self.model_requests(scripted_provider)[-1])
        assert MARMOT in replayed

    async def test_a_file_attached_to_a_message_is_searched_in_the_threads_store(
            self, client: Any, scripted_provider: Any, kit_app: App) -> None:
        embedder = kit_app.embedder
        assert isinstance(embedder, HeldEmbeddings)
        file = await upload(client, "marmot.txt", MARMOT)
        a = await call(client.beta.assistants.create(model="test-model", tools=[FILE_SEARCH]))
        embedder.hold("document")  # the attached file is still being ingested when the run searches
        unstuck = threading.Timer(30, embedder.release)  # a search that never waits fails, not hangs
        unstuck.start()
        try:
            t = await call(client.beta.threads.create(messages=[{
                "role": "user", "content": "Who audits?",
                "attachments": [{"file_id": file.id, "tools": [FILE_SEARCH]}]}]))
            resources = (await call(client.beta.threads.retrieve(t.id))).tool_resources
            [store_id] = resources.file_search.vector_store_ids
            assert [f.id for f in (await call(client.vector_stores.files.list(store_id))).data] == [file.id]
            self._search_then(scripted_provider, ANSWER)
            run = await call(client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id))
            deadline = time.monotonic() + 30
            while not await self._steps(client, t, run):
                assert time.monotonic() < deadline, "the model never called file_search"
                await asyncio.sleep(0.01)
            ingesting = await call(client.vector_stores.files.retrieve(file.id, vector_store_id=store_id))
            assert ingesting.status == "in_progress" and not embedder.released.is_set()
        finally:
            unstuck.cancel()
            embedder.release()
        await self._cites(client, scripted_provider, t, run, file)  # the search waited for the ingestion

    async def test_a_store_made_from_an_assistants_vector_stores_is_searched(
            self, client: Any, scripted_provider: Any) -> None:
        file = await upload(client, "marmot.txt", MARMOT)
        a = await call(client.beta.assistants.create(
            model="test-model", tools=[FILE_SEARCH],
            tool_resources={"file_search": {"vector_stores": [{"file_ids": [file.id]}]}}))
        [store_id] = a.tool_resources.file_search.vector_store_ids
        attached = await call(client.vector_stores.files.poll(file.id, vector_store_id=store_id))
        assert attached.status == "completed", attached.last_error
        t = await call(client.beta.threads.create(messages=[{"role": "user", "content": "Who audits?"}]))
        self._search_then(scripted_provider, ANSWER)
        run = await call(client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id))
        await self._cites(client, scripted_provider, t, run, file)
