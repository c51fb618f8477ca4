"""file_search's own decisions, beyond the FileSearchTests kit: expired stores, the wait for a thread's
store still ingesting, defaults by model, include[] validation, and the removal of made-up markers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest

from supercompat import supercompat
from supercompat.file_search import CONTENT
from supercompat.loop import run_sync
from supercompat.runs.engine import _without_made_up_markers
from supercompat.testing import Reply, app_of, scripted_client_adapter
from supercompat.testing.embedders import fake_embedder

pytestmark = pytest.mark.sdk

SEARCH = {"type": "file_search"}


class HeldEmbedder:
    """The fake embedder, whose document embeddings (ingestion) wait until ``release()``."""

    def __init__(self) -> None:
        self.inner = fake_embedder()
        self.released = False
        self.model = self.inner.model
        self.dimensions = self.inner.dimensions

    def release(self) -> None:
        self.released = True

    async def embed(self, texts: list[str], kind: str = "document") -> Any:
        while kind == "document" and not self.released:
            await asyncio.sleep(0.01)
        return await self.inner.embed(texts, kind=kind)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def setup(client: Any, text: str = "The quick marmot audits seventeen ledgers at dawn.", **store: Any) -> Any:
    file = client.files.create(file=("marmot.txt", text.encode()), purpose="assistants")
    made = client.vector_stores.create(name="docs", file_ids=[file.id], **store)
    return file, made


def test_a_run_on_an_expired_store_fails_saying_which():
    model = scripted_client_adapter()
    client = supercompat(client_adapter=model, embedder=fake_embedder(), max_retries=0)
    _, store = setup(client, expires_after={"anchor": "last_active_at", "days": 1})
    client.vector_stores.retrieve(store.id)
    a = client.beta.assistants.create(model="gpt-4o", tools=[SEARCH],
                                      tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    app = app_of(client)
    run_sync(app.storage.update_vector_store(store.id, {"last_active_at": int(time.time()) - 2 * 86400}))
    model.script(Reply(tool_calls=[("file_search", {"queries": ["marmot"]})]), Reply(text="never"))
    t = client.beta.threads.create(messages=[{"role": "user", "content": "ledgers?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    assert run.status == "failed" and run.last_error is not None
    assert store.id in run.last_error.message and "expired" in run.last_error.message
    assert len(model.requests) == 1  # the model was not asked again
    step = client.beta.threads.runs.steps.list(run.id, thread_id=t.id).data[0]
    assert step.status == "failed" and step.step_details.tool_calls[0].type == "file_search"


def test_a_search_waits_for_the_threads_store_to_finish_ingesting():
    model = scripted_client_adapter()
    embedder = HeldEmbedder()
    client = supercompat(client_adapter=model, embedder=embedder, max_retries=0)
    file, store = setup(client)
    a = client.beta.assistants.create(model="gpt-4o", tools=[SEARCH])
    t = client.beta.threads.create(messages=[{"role": "user", "content": "How many ledgers?"}],
                                   tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    assert client.vector_stores.retrieve(store.id).file_counts.in_progress == 1
    model.script(Reply(tool_calls=[("file_search", {"queries": ["marmot ledgers"]})]), Reply(text="17 【0:0†source】"))
    run = client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id)
    time.sleep(0.3)
    assert client.beta.threads.runs.retrieve(run.id, thread_id=t.id).status == "in_progress"  # waiting
    embedder.release()
    run = client.beta.threads.runs.poll(run.id, thread_id=t.id)
    assert run.status == "completed", run.last_error
    step = client.beta.threads.runs.steps.list(run.id, thread_id=t.id, order="asc").data[0]
    assert [r.file_id for r in step.step_details.tool_calls[0].file_search.results] == [file.id]
    text = client.beta.threads.messages.list(t.id).data[0].content[0].text
    assert text.annotations[0].file_citation.file_id == file.id


def test_gpt_35_models_get_five_results_by_default_others_twenty():
    model = scripted_client_adapter()
    client = supercompat(client_adapter=model, embedder=fake_embedder(), max_retries=0)
    words = " ".join(f"marmot{i} ledger" for i in range(3000))  # about 30 chunks of 100 tokens
    _, store = setup(client, words, chunking_strategy={
        "type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}})
    client.vector_stores.files.list(store.id)
    while client.vector_stores.retrieve(store.id).file_counts.in_progress:
        time.sleep(0.01)
    found = {}
    for name in ("gpt-3.5-turbo", "gpt-4o"):
        a = client.beta.assistants.create(model=name, tools=[SEARCH],
                                          tool_resources={"file_search": {"vector_store_ids": [store.id]}})
        t = client.beta.threads.create(messages=[{"role": "user", "content": "ledger"}])
        model.script(Reply(tool_calls=[("file_search", {"queries": ["ledger"]})]), Reply(text="ok"))
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
        step = client.beta.threads.runs.steps.list(run.id, thread_id=t.id, order="asc").data[0]
        found[name] = len(step.step_details.tool_calls[0].file_search.results)
    assert found == {"gpt-3.5-turbo": 5, "gpt-4o": 20}


def test_include_takes_only_what_openai_knows():
    client = supercompat(client_adapter=scripted_client_adapter(), max_retries=0)
    a = client.beta.assistants.create(model="m")
    t = client.beta.threads.create()
    for make in (lambda: client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id, include=["nope"]),
                 lambda: client.beta.threads.runs.steps.list("run_x", thread_id=t.id, include=["nope"])):
        with pytest.raises(openai.BadRequestError) as info:
            make()
        assert info.value.body["param"] == "include" and "nope" in info.value.body["message"]
    run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id, include=[CONTENT])
    assert run.status == "completed"


def test_removing_made_up_markers_moves_what_follows():
    text = "A 【0:0†source】 b 【9:9†source】 c."
    found = [(2, 14, {"type": "file_citation"}), (17, 29, None)]
    # an adapter's annotation after the cut (indexes within the whole message, whose text so far ends at 100)
    held = [{"type": "file_path", "start_index": 130, "end_index": 132}]
    kept, markers, notes = _without_made_up_markers(text, 100, found, held)
    assert kept == "A 【0:0†source】 b  c."
    assert markers == [(2, 14, {"type": "file_citation"})]
    assert notes == [{"type": "file_path", "start_index": 118, "end_index": 120}]
    assert kept[18:20] == text[30:32]


def test_a_later_run_is_shown_earlier_answers_without_their_citation_markers():
    model = scripted_client_adapter()
    client = supercompat(client_adapter=model, embedder=fake_embedder(), max_retries=0)
    file, store = setup(client)
    client.vector_stores.files.poll(file.id, vector_store_id=store.id)
    a = client.beta.assistants.create(model="gpt-4o", tools=[SEARCH],
                                      tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    t = client.beta.threads.create(messages=[{"role": "user", "content": "ledgers?"}])
    model.script(Reply(tool_calls=[("file_search", {"queries": ["ledgers"]})]), Reply(text="Seventeen 【0:0†source】."),
                 Reply(text="Yes."))
    client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    stored = client.beta.threads.messages.list(t.id).data[0].content[0].text
    assert stored.value == "Seventeen 【0:0†source】." and len(stored.annotations) == 1  # kept for the user
    client.beta.threads.messages.create(t.id, role="user", content="Sure?")
    client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
    answers = [m["content"] for m in model.requests[-1]["messages"] if m["role"] == "assistant" and m["content"]]
    assert answers == ["Seventeen ."]


def test_removing_made_up_markers_moves_an_annotation_that_began_before_the_text():
    text = "ab 【9:9†source】 cd"  # the message so far ends at 100; a note spans 95 .. 100 + 18
    kept, _, notes = _without_made_up_markers(text, 100, [(3, 15, None)], [{"start_index": 95, "end_index": 118}])
    assert kept == "ab  cd" and notes == [{"start_index": 95, "end_index": 106}]
    _, _, inside = _without_made_up_markers(text, 100, [(3, 15, None)], [{"start_index": 104, "end_index": 110}])
    assert inside == []  # wholly inside the removed marker


def test_markers_written_before_any_search_are_removed():
    model = scripted_client_adapter()
    client = supercompat(client_adapter=model, embedder=fake_embedder(), max_retries=0)
    a = client.beta.assistants.create(model="gpt-4o", tools=[SEARCH])
    t = client.beta.threads.create(messages=[{"role": "user", "content": "ledgers?"}])
    model.script(Reply(text="Seventeen 【0:0†source】."))
    with client.beta.threads.runs.stream(thread_id=t.id, assistant_id=a.id) as stream:
        streamed = "".join(stream.text_deltas)
    text = client.beta.threads.messages.list(t.id).data[0].content[0].text
    assert text.value == streamed == "Seventeen ." and text.annotations == []
