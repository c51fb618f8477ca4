"""Runs left behind by a process that stopped, found in review: each test failed before its fix."""

from __future__ import annotations

import time

import openai
import pytest

from supercompat import supercompat
from supercompat.storage import memory_storage_adapter
from supercompat.testing import scripted_client_adapter
from supercompat.testing.storage import make_assistant, make_message, make_run, make_thread


async def run_left_waiting_for_tool_outputs(store, expires_at):
    """What a process that stopped leaves when its run waited for tool outputs: nobody's timer expires it."""
    assistant = await store.create_assistant(make_assistant())
    thread = make_thread()
    await store.create_thread(thread, [make_message(thread["id"])])
    required = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}
    return await store.create_run(make_run(thread["id"], assistant["id"], status="requires_action",
                                           required_action=required, expires_at=expires_at), [])


@pytest.mark.parametrize("write", ["run", "message"])
async def test_an_expired_run_of_a_stopped_process_does_not_block_its_thread(write):
    store = memory_storage_adapter()
    run = await run_left_waiting_for_tool_outputs(store, expires_at=int(time.time()) - 1)
    thread_id, assistant_id = run["thread_id"], run["assistant_id"]
    client = supercompat(client_adapter=scripted_client_adapter(["ok"]), storage_adapter=store, max_retries=0)
    if write == "run":
        new = client.beta.threads.runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id)
        assert new.status == "completed"
    else:
        client.beta.threads.messages.create(thread_id, role="user", content="still there?")
    assert (await store.get_run(thread_id, run["id"]))["status"] == "expired"


async def test_a_run_still_waiting_for_tool_outputs_keeps_its_thread():
    store = memory_storage_adapter()
    run = await run_left_waiting_for_tool_outputs(store, expires_at=int(time.time()) + 600)
    client = supercompat(client_adapter=scripted_client_adapter(["ok"]), storage_adapter=store, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="already has an active run"):
        client.beta.threads.runs.create(thread_id=run["thread_id"], assistant_id=run["assistant_id"])
    assert (await store.get_run(run["thread_id"], run["id"]))["status"] == "requires_action"
