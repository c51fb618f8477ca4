"""RunAdapterTests: a run adapter, driven through the real openai SDK with a scripted provider.

Subclass it and provide a fixture ``run_adapter`` returning the adapter under test. It checks text
runs, function tool rounds, the stream's event order, provider failures and a built-in tool round
(the ``test_lookup`` tool of ``supercompat.testing.tools``).
"""

from __future__ import annotations

import json
from typing import Any

from .. import supercompat
from .kit import Kit, fixture
from .scripted import Reply, scripted_client_adapter

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}
TEXT_RUN_EVENTS = ["thread.run.created", "thread.run.queued", "thread.run.in_progress", "thread.run.step.created",
                   "thread.run.step.in_progress", "thread.message.created", "thread.message.in_progress",
                   "thread.message.delta", "thread.message.completed", "thread.run.step.completed",
                   "thread.run.completed"]


class RunAdapterTests(Kit, standard=True):
    @fixture
    def run_adapter(self) -> Any:  # pragma: no cover - subclasses override
        raise NotImplementedError("provide a `run_adapter` fixture")

    def _client(self, run_adapter: Any, *replies: Reply | str, tools: Any = None) -> tuple[Any, Any]:
        provider = scripted_client_adapter(list(replies))
        return supercompat(client_adapter=provider, run_adapter=run_adapter, tools=tools, max_retries=0), provider

    def _thread(self, client: Any, **assistant: Any) -> tuple[Any, Any]:
        a = client.beta.assistants.create(model="test-model", **assistant)
        t = client.beta.threads.create(messages=[{"role": "user", "content": "Weather in Paris?"}])
        return a, t

    def test_text_run(self, run_adapter: Any) -> None:
        client, provider = self._client(run_adapter, "It is sunny.")
        a, t = self._thread(client, instructions="Be brief.")
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
        assert run.status == "completed"
        assert client.beta.threads.messages.list(t.id).data[0].content[0].text.value == "It is sunny."
        sent = json.dumps(provider.requests[-1]["messages"])
        assert "Be brief." in sent and "Weather in Paris?" in sent

    def test_tool_round_trip(self, run_adapter: Any) -> None:
        client, provider = self._client(run_adapter, Reply(tool_calls=[("get_weather", {"city": "Paris"})]),
                                        "Sunny.")
        a, t = self._thread(client, tools=[WEATHER])
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
        assert run.status == "requires_action"
        call = run.required_action.submit_tool_outputs.tool_calls[0]
        assert json.loads(call.function.arguments) == {"city": "Paris"}
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=t.id, tool_outputs=[{"tool_call_id": call.id, "output": "18C"}])
        assert run.status == "completed"
        assert "18C" in json.dumps(provider.requests[-1]["messages"])

    def test_stream_event_order(self, run_adapter: Any) -> None:
        client, _ = self._client(run_adapter, "one two three")
        a, t = self._thread(client)
        names: list[str] = []
        for event in client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id, stream=True):
            if not (names and names[-1] == event.event == "thread.message.delta"):
                names.append(event.event)
        assert names == TEXT_RUN_EVENTS

    def test_provider_failure_fails_the_run(self, run_adapter: Any) -> None:
        client, provider = self._client(run_adapter)
        provider.fail(429, "slow down")
        a, t = self._thread(client)
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
        assert run.status == "failed" and run.last_error.code == "rate_limit_exceeded"

    def test_built_in_tool_round(self, run_adapter: Any) -> None:
        """The adapter offers the run's built-in tools (``RunContext.tools``) as functions and shows the
        model their results (``RunContext.executors``' replay); the engine runs them."""
        from .tools import TYPE, LookupTool, marker

        client, provider = self._client(run_adapter, Reply(tool_calls=[(TYPE, {"query": "Rome"})]),
                                        f"See {marker(0, 'Rome')}.", tools=[LookupTool()])
        a, t = self._thread(client, tools=[{"type": TYPE}])
        run = client.beta.threads.runs.create_and_poll(thread_id=t.id, assistant_id=a.id)
        assert run.status == "completed"
        assert TYPE in json.dumps(provider.requests[0].get("tools"))
        assert "All about Rome." in json.dumps(provider.requests[1]["messages"], ensure_ascii=False)
        [text] = client.beta.threads.messages.list(t.id, limit=1).data[0].content
        assert [a.file_citation.file_id for a in text.text.annotations] == ["file-rome"]
