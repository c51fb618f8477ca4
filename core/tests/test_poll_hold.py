"""A poll (a GET carrying X-Stainless-Poll-Helper) is held only well inside the client's read timeout."""

from __future__ import annotations

import openai
import pytest

from supercompat import supercompat
from supercompat.storage import memory_storage_adapter
from supercompat.testing.cancels import PacedModel

pytestmark = pytest.mark.sdk  # drives the openai SDK's own surface: core-openai-floor runs it

POLL = {"X-Stainless-Poll-Helper": "true"}


def started_run(client: openai.OpenAI):
    a = client.beta.assistants.create(model="m")
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    return client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id)


def test_a_poll_answers_before_a_short_read_timeout_in_process():
    """With a 1 s read timeout the hold is nothing: the run, 1.5 s from done, comes back unfinished
    (held up to 10 s, as before, it came back completed, long after the client had given up)."""
    model = PacedModel(text="Done.", delay=0, start_after=1.5)  # answers "Done." after 1.5 s
    client = supercompat(client_adapter=model, storage_adapter=memory_storage_adapter(), max_retries=0)
    run = started_run(client)
    seen = client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id, extra_headers=POLL, timeout=1.0)
    assert seen.status in ("queued", "in_progress")
    assert client.beta.threads.runs.poll(run.id, thread_id=run.thread_id).status == "completed"


def test_a_poll_from_a_client_that_names_no_timeout_is_held_briefly():
    model = PacedModel(text="Done.", delay=0, start_after=2.5)  # answers "Done." after 2.5 s
    client = supercompat(client_adapter=model, storage_adapter=memory_storage_adapter(), max_retries=0)
    run = started_run(client)
    untold = {**POLL, "x-stainless-read-timeout": openai.Omit()}
    seen = client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id, extra_headers=untold)
    assert seen.status in ("queued", "in_progress")
    assert client.beta.threads.runs.poll(run.id, thread_id=run.thread_id).status == "completed"
