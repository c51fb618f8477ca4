"""CodeInterpreterTests: code_interpreter in runs through the real openai SDK (sync and async clients,
polled and streamed), on a sandbox, a storage and a provider: the seed's data analysis (a CSV
attached, numbers computed, a chart, a file written and linked), state kept between runs of a
thread, the time limit, cancel, and the error of an App with no sandbox.

Subclass it with a ``sandbox`` fixture (one whose Python has numpy, pandas and matplotlib) and,
optionally, ``scripted_provider`` (a provider plugin's scripted fake, as for the contract kit; core's
scripted adapter by default), ``storage_adapter`` and ``client`` (``served_client()`` from
``supercompat.testing.serving`` serves ``kit_app`` over HTTP)::

    class TestMyProviderCode(CodeInterpreterTests):
        scripted_provider = ScriptedFakeMine.fixture()

        @fixture
        def sandbox(self):
            return my_sandbox()
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

from .. import supercompat
from ..app import App
from ..code_interpreter import code_interpreter_tool
from ..loop import run_sync
from . import app_of
from .contract import call, close_app
from .kit import Kit, fixture
from .scripted import Reply, ScriptedClientAdapter, scripted_client_adapter
from .serving import in_process_client, server_fixture
from .tool_runs import streamed

CODE = {"type": "code_interpreter"}
CSV = b"city,visitors\nParis,3\nRome,2\nOslo,1\n"
PNG = b"\x89PNG\r\n\x1a\n"
CHART = ("import pandas as pd\nimport matplotlib.pyplot as plt\n"
         "df = pd.read_csv('/mnt/data/{file_id}')\n"
         "df.plot.bar(x='city', y='visitors')\nplt.title('Visitors')\nplt.show()\n"
         "df.assign(share=df.visitors / df.visitors.sum()).to_csv('/mnt/data/shares.csv', index=False)\n"
         "print('written')")


def text_of(message: Any) -> Any:
    return next(part.text for part in message.content if part.type == "text")


async def content_of(client: Any, file_id: str) -> bytes:
    response = await call(client.files.content(file_id))
    return bytes(response.content)


class CodeInterpreterTests(Kit, standard=True):
    cell_seconds = 3.0  # the time limit of the kit's loop test (the others have the tool's own)

    @fixture
    def scripted_provider(self) -> Any:
        return scripted_client_adapter()

    @fixture
    def storage_adapter(self) -> Any:
        return None  # memory

    @fixture
    def sandbox(self) -> Any:  # pragma: no cover - subclasses override
        raise NotImplementedError("provide a `sandbox` fixture")

    @fixture
    def kit_app(self, scripted_provider: Any, storage_adapter: Any, sandbox: Any) -> Iterator[App]:
        app = App(client_adapter=scripted_provider.adapter, storage_adapter=storage_adapter, sandbox=sandbox,
                  tools=[code_interpreter_tool()])
        yield app
        run_sync(app.aclose(grace=0))  # its runs, sessions and sandbox, then the storage

    client = in_process_client(["sync-client", "async-client"])
    kit_server = server_fixture()

    async def _analyst(self, client: Any) -> tuple[Any, Any, Any]:
        """The seed's Data Analyst: an assistant with code_interpreter, a thread whose message has a CSV
        attached for it. Returns the assistant, the thread and the CSV's File."""
        csv = await call(client.files.create(file=("visitors.csv", CSV), purpose="assistants"))
        assistant = await call(client.beta.assistants.create(
            model="test-model", name="Data Analyst", instructions="Analyse the data you are given.", tools=[CODE]))
        thread = await call(client.beta.threads.create(messages=[{
            "role": "user", "content": "How many visitors in all? Chart them and give me the shares.",
            "attachments": [{"file_id": csv.id, "tools": [CODE]}]}]))
        return assistant, thread, csv

    async def test_the_data_analysts_run(self, client: Any, scripted_provider: Any) -> None:
        assistant, thread, csv = await self._analyst(client)
        total = f"import pandas as pd\nprint(pd.read_csv('/mnt/data/{csv.id}').visitors.sum())"
        scripted_provider.script(
            Reply(tool_calls=[("python", {"code": total})]),
            Reply(tool_calls=[("python", {"code": CHART.format(file_id=csv.id)})]),
            Reply(text="There were 6 visitors. The shares: [shares.csv](sandbox:/mnt/data/shares.csv)."))
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id))
        assert run.status == "completed", run.last_error
        steps = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc"))).data
        assert [s.type for s in steps] == ["tool_calls", "tool_calls", "message_creation"]
        first, second = (s.step_details.tool_calls[0] for s in steps[:2])
        assert first.type == "code_interpreter" and first.code_interpreter.input == total
        assert [(o.type, o.logs) for o in first.code_interpreter.outputs] == [("logs", "6\n")]
        kinds = [o.type for o in second.code_interpreter.outputs]
        assert kinds == ["logs", "image"] and second.code_interpreter.outputs[0].logs == "written\n"
        image_id = second.code_interpreter.outputs[1].image.file_id
        message = (await call(client.beta.threads.messages.list(thread.id))).data[0]
        assert message.content[0].type == "image_file" and message.content[0].image_file.file_id == image_id
        assert (await content_of(client, image_id)).startswith(PNG)
        image = await call(client.files.retrieve(image_id))
        assert image.purpose == "assistants_output"
        text = text_of(message)
        link = "sandbox:/mnt/data/shares.csv"
        start = text.value.index(link)
        [note] = text.annotations
        assert (note.type, note.text, note.start_index, note.end_index) == ("file_path", link, start, start + len(link))
        written = await content_of(client, note.file_path.file_id)
        assert written.decode().splitlines() == ["city,visitors,share", "Paris,3,0.5", "Rome,2,0.3333333333333333",
                                                 "Oslo,1,0.16666666666666666"]
        assert (await call(client.files.retrieve(note.file_path.file_id))).filename == "shares.csv"
        if isinstance(scripted_provider, ScriptedClientAdapter):  # what the model was shown, in chat form
            assert f"/mnt/data/{csv.id}" in json.dumps(scripted_provider.requests[0])  # where the CSV is
            shown = {"role": "tool", "tool_call_id": first.id, "content": "6\n"}
            assert shown in scripted_provider.requests[1]["messages"]

    async def test_streamed_input_and_outputs(self, client: Any, scripted_provider: Any) -> None:
        assistant, thread, csv = await self._analyst(client)
        code = f"import pandas as pd\ndf = pd.read_csv('/mnt/data/{csv.id}')\nprint(len(df))"
        scripted_provider.script(Reply(tool_calls=[("python", {"code": code})]), Reply(text="3 rows."))
        recording = await streamed(client, "stream", thread_id=thread.id, assistant_id=assistant.id)
        assert recording.events[-1].event == "thread.run.completed"
        deltas = [d for d in recording.step_deltas() if d["type"] == "code_interpreter"]
        assert "".join(d["code_interpreter"].get("input", "") for d in deltas) == code
        step = next(e.data for e in recording.events if e.event == "thread.run.step.completed"
                    and e.data.type == "tool_calls")
        snapshot = recording.steps[step.id].step_details.tool_calls[0].code_interpreter
        assert snapshot.input == code and [o.logs for o in snapshot.outputs] == ["3\n"]
        assert step.step_details.tool_calls[0].code_interpreter.outputs[0].logs == "3\n"

    async def test_a_threads_session_keeps_its_state_between_runs(self, client: Any, scripted_provider: Any) -> None:
        assistant, thread, _ = await self._analyst(client)
        scripted_provider.script(Reply(tool_calls=[("python", {"code": "answer = 41"})]), Reply(text="Set."),
                                 Reply(tool_calls=[("python", {"code": "answer + 1"})]), Reply(text="42."))
        for _ in range(2):
            run = await call(client.beta.threads.runs.create_and_poll(thread_id=thread.id,
                                                                      assistant_id=assistant.id))
            assert run.status == "completed", run.last_error
        steps = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc"))).data
        assert steps[0].step_details.tool_calls[0].code_interpreter.outputs[0].logs.strip() == "42"

    async def test_a_loop_ends_at_the_time_limit_and_the_thread_goes_on(self, client: Any, scripted_provider: Any,
                                                                         kit_app: App) -> None:
        kit_app.tools["code_interpreter"].cell_seconds = self.cell_seconds  # type: ignore[attr-defined]
        assistant, thread, _ = await self._analyst(client)
        scripted_provider.script(Reply(tool_calls=[("python", {"code": "kept = 7\nwhile True:\n    pass"})]),
                                 Reply(text="It ran too long."),
                                 Reply(tool_calls=[("python", {"code": "print('still here')"})]), Reply(text="ok"))
        started = time.monotonic()
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id))
        assert run.status == "completed", run.last_error
        assert time.monotonic() - started < self.cell_seconds + 20
        steps = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc"))).data
        logs = steps[0].step_details.tool_calls[0].code_interpreter.outputs[0].logs
        assert "time limit" in logs
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id))
        steps = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc"))).data
        assert steps[0].step_details.tool_calls[0].code_interpreter.outputs[0].logs == "still here\n"

    async def test_cancel_stops_the_code(self, client: Any, scripted_provider: Any) -> None:
        assistant, thread, _ = await self._analyst(client)
        scripted_provider.script(Reply(tool_calls=[("python", {"code": "import time\ntime.sleep(60)"})]),
                                 Reply(tool_calls=[("python", {"code": "print('after')"})]), Reply(text="ok"))
        run = await call(client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id))
        deadline = time.monotonic() + 20
        while True:  # until the code runs
            steps = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=thread.id))).data
            if steps and steps[0].type == "tool_calls":
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        cancelled_at = time.monotonic()
        await call(client.beta.threads.runs.cancel(run.id, thread_id=thread.id))
        run = await call(client.beta.threads.runs.poll(run.id, thread_id=thread.id))
        assert run.status == "cancelled" and time.monotonic() - cancelled_at < 10
        step = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=thread.id))).data[0]
        assert step.status == "cancelled"
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id))
        assert run.status == "completed", run.last_error
        steps = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc"))).data
        assert steps[0].step_details.tool_calls[0].code_interpreter.outputs[0].logs == "after\n"

    async def test_a_cell_writing_many_files_keeps_the_latest_twenty(self, client: Any, scripted_provider: Any
                                                                      ) -> None:
        assistant, thread, _ = await self._analyst(client)
        code = ("import os\nfor i in range(25):\n    open(f'/mnt/data/part{i:02}.txt', 'w').write(str(i))\n"
                "    os.utime(f'/mnt/data/part{i:02}.txt', (i, 1_000_000 + i))")
        scripted_provider.script(Reply(tool_calls=[("python", {"code": code})]),
                                 Reply(text="See sandbox:/mnt/data/part24.txt and sandbox:/mnt/data/part00.txt"))
        run = await call(client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id))
        assert run.status == "completed", run.last_error
        steps = (await call(client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc"))).data
        logs = steps[0].step_details.tool_calls[0].code_interpreter.outputs[0].logs
        assert "5 more files the cell wrote were not kept" in logs
        text = text_of((await call(client.beta.threads.messages.list(thread.id))).data[0])
        assert [n.text for n in text.annotations] == ["sandbox:/mnt/data/part24.txt"]  # part00 wasn't kept
        assert await content_of(client, text.annotations[0].file_path.file_id) == b"24"

    async def test_without_a_sandbox_the_run_fails_saying_how_to_get_one(self, scripted_provider: Any,
                                                                          storage_adapter: Any) -> None:
        client = supercompat(client_adapter=scripted_provider.adapter, storage_adapter=storage_adapter,
                             sandbox=None, max_retries=0)
        app_of(client).sandbox = None  # whatever this machine has: none
        try:
            scripted_provider.script(Reply(tool_calls=[("python", {"code": "print(1)"})]), Reply(text="never"))
            assistant = client.beta.assistants.create(model="test-model", tools=[{"type": "code_interpreter"}])
            thread = client.beta.threads.create(messages=[{"role": "user", "content": "1?"}])
            run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
            assert run.status == "failed" and run.last_error is not None
            assert "bubblewrap" in run.last_error.message and "sandbox" in run.last_error.message
        finally:
            close_app(client)


def provider_tests(scripted: Any) -> tuple[type, type]:
    """The kit for a provider plugin, against its loopback fake (``scripted``: its ``Scripted``
    subclass), on core's bubblewrap sandbox with the tests' Python environment
    (:mod:`supercompat.testing.sandbox_python`): in process over a sync SDK client, and over HTTP
    through a real server over an async one (each kind once: ClientAdapterTests covers both)::

        TestMyCodeInterpreter, TestMyCodeInterpreterOverHTTP = provider_tests(ScriptedFakeMine)
    """
    from .loopback import sdk_clients
    from .sandbox_python import sandbox_for_tests
    from .serving import served_client

    class InProcess(CodeInterpreterTests):
        scripted_provider = scripted.fixture()
        client = in_process_client()
        make_client = sdk_clients(asynchronous=False)

        @fixture
        def sandbox(self) -> Any:
            return sandbox_for_tests()  # closed with the App

    class OverHTTP(InProcess):
        client = served_client()
        make_client = sdk_clients(asynchronous=True)

    return InProcess, OverHTTP

