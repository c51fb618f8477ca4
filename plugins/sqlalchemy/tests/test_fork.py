"""An in-process client used, then forked (gunicorn --preload, Celery prefork, multiprocessing): the child
starts afresh (its own loop, threads and connections) and the parent goes on with its own, and nothing
either of them was told was written goes missing."""

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from supercompat import supercompat
from supercompat.loop import run_sync
from supercompat.testing import ScriptedClientAdapter, scripted_client_adapter
from supercompat.testing.forking import in_forked_child
from supercompat_sqlalchemy import sqlalchemy_storage_adapter


def client(url):
    return supercompat(client_adapter=scripted_client_adapter(), storage_adapter=sqlalchemy_storage_adapter(url),
                       max_retries=0)


def conversation(c, assistant_id, text):
    """What a worker does with the client: a thread, a message, a polled run and a streamed one."""
    thread = c.beta.threads.create()
    message = c.beta.threads.messages.create(thread.id, role="user", content=text)
    polled = c.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id)
    with c.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant_id) as stream:
        stream.until_done()
        streamed = stream.get_final_run()
    return {"thread": thread.id, "message": message.id, "runs": [polled.id, streamed.id],
            "statuses": [polled.status, streamed.status]}


def assert_all_there(url, assistant_id, *conversations):
    fresh = client(url)  # a new process's view: what is in the database
    try:
        assert fresh.beta.assistants.retrieve(assistant_id).id == assistant_id
        for done in conversations:
            assert done["statuses"] == ["completed", "completed"]
            [message] = [m for m in fresh.beta.threads.messages.list(done["thread"], order="asc").data
                         if m.role == "user"]
            assert message.id == done["message"]
            for run_id in done["runs"]:
                assert fresh.beta.threads.runs.retrieve(run_id, thread_id=done["thread"]).status == "completed"
    finally:
        run_sync(fresh._client._transport.app.storage.close())


def test_a_client_used_before_fork_works_in_the_child_and_the_parent(database_url):
    c = client(database_url)
    assistant = c.beta.assistants.create(model="m")
    before = conversation(c, assistant.id, "before the fork")

    child = in_forked_child(lambda: conversation(c, assistant.id, "in the child"))
    after = conversation(c, assistant.id, "in the parent, after the fork")

    assert_all_there(database_url, assistant.id, before, child, after)
    run_sync(c._client._transport.app.storage.close())


class HeldProvider(ScriptedClientAdapter):
    """Holds a turn asked to "hold" until ``release`` is set (at most 30 s)."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    async def chat_completions_stream(self, params):
        if params["messages"][-1]["content"] == "hold":
            for _ in range(3000):
                if self.release.is_set():
                    break
                await asyncio.sleep(0.01)
        async for chunk in super().chat_completions_stream(params):
            yield chunk


def test_the_parent_keeps_executing_a_run_it_started_before_the_fork(database_url):
    """A run in flight at the fork is the parent's: the child neither executes nor ends it."""
    provider = HeldProvider()
    c = supercompat(client_adapter=provider, storage_adapter=sqlalchemy_storage_adapter(database_url), max_retries=0)
    assistant = c.beta.assistants.create(model="m")
    thread = c.beta.threads.create(messages=[{"role": "user", "content": "hold"}])
    run = c.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)

    child = in_forked_child(lambda: {"status": c.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status,
                                     "other": conversation(c, assistant.id, "in the child")})
    assert child["status"] in ("queued", "in_progress")
    provider.release.set()
    run = c.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=10)
    assert run.status == "completed"
    assert_all_there(database_url, assistant.id, child["other"])
    run_sync(c._client._transport.app.storage.close())


def test_forks_while_the_parent_is_writing(database_url):
    """Forked the moment a run starts (its first writes under way in the parent): a child that had
    inherited SQLite's locks taken mid-statement hung on its first write (4 in 60 here). (PostgreSQL
    and MariaDB connections are sockets that the child leaves alone: nothing to wait for.)"""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's locks only")
    c = client(database_url)
    assistant = c.beta.assistants.create(model="m")
    children = []
    for _ in range(60):
        thread = c.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        c.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        children.append(in_forked_child(lambda: c.beta.threads.create().id, timeout=10))
    fresh = client(database_url)
    try:
        assert all(fresh.beta.threads.retrieve(thread_id).id == thread_id for thread_id in children)
    finally:
        run_sync(fresh._client._transport.app.storage.close())
        run_sync(c._client._transport.app.storage.close())


# -- gunicorn --preload -w 2 --------------------------------------------------------------------------
APP = str(Path(__file__).with_name("preloaded_app.py"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, json.loads(response.read())


# One connection per worker at a time, so that two requests at once go to the two workers.
WORKERS = {"sync": [], "gevent": ["-k", "gevent", "--worker-connections", "1"]}


@pytest.mark.parametrize("worker_class", WORKERS)
def test_gunicorn_preload_workers_share_a_client_built_at_import(database_url, tmp_path, worker_class):
    # Kept to a few combinations for time: MariaDB's connections are sockets as PostgreSQL's are (and
    # both are forked under test above); gevent workers matter for SQLite, whose driver has threads.
    if database_url.startswith("mysql") or (worker_class == "gevent" and not database_url.startswith("sqlite")):
        pytest.skip("covered by the other combinations")
    config = tmp_path / "supercompat.toml"
    config.write_text(f'[client]\nplugin = "scripted"\n\n[storage]\nplugin = "sqlalchemy"\nurl = "{database_url}"\n')
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:  # the child has its own copy of the file
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--preload", "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "60",
             *WORKERS[worker_class], "--chdir", str(Path(APP).parent), "preloaded_app:app"],
            env={**os.environ, "SUPERCOMPAT_CONFIG": str(config)}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group: the workers are stopped with the master
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):  # bounded: until gunicorn listens
            try:
                status, made = get(f"{base}/made", timeout=5)
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.05)
        else:
            pytest.fail("gunicorn did not start")
        assert server.poll() is None, log.read_text()
        # Two requests at once: a sync worker serves one at a time, and each request waits (bounded)
        # until both have checked in, so the two are answered by the two workers.
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: get(f"{base}/work"), range(2)))
        assert [status for status, _ in answers] == [200, 200], log.read_text()
        assert len({body["pid"] for _, body in answers}) == 2
        assert_all_there(database_url, made["assistant"], *(body for _, body in answers))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):  # a worker stuck in a request ignores SIGTERM
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
