"""Separate OS processes sharing one database: what one writes the other reads, the one-active-run
rule holds across them, concurrent attaches to one store keep its counts exact, and a process killed
mid-run doesn't leave its run stuck."""

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from supercompat import supercompat
from supercompat.loop import run_async, run_sync
from supercompat.storage import ListQuery, file_counts
from supercompat.testing import app_of
from supercompat.testing.storage import make_thread, make_vector_store
from supercompat_sqlalchemy import sqlalchemy_storage_adapter

WORKER = str(Path(__file__).with_name("worker.py"))


def worker(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, WORKER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


@pytest.fixture
def client_on():
    """supercompat clients over a database URL; their Apps are closed at the end (their heartbeats
    stopped, then their storage: closing the storage alone, under a heartbeat that sweeps every 0.2 s,
    could drop a connection a sweep had checked out, for the garbage collector to find unclosed)."""
    clients = []

    def make(url):
        clients.append(supercompat(storage_adapter=sqlalchemy_storage_adapter(url), max_retries=0))
        return clients[-1]

    yield make
    for client in clients:
        run_sync(app_of(client).aclose(grace=0))  # on supercompat's loop, where its connections live


def output(process: subprocess.Popen) -> object:
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    return json.loads(out)


async def test_what_one_process_writes_another_reads(database_url, storage, client_on):
    made = output(worker("create", database_url))
    client = client_on(database_url)
    assistant = client.beta.assistants.retrieve(made["assistant"])
    assert assistant.name == "made elsewhere" and assistant.metadata == {"pid": "worker"}
    [message] = client.beta.threads.messages.list(made["thread"]).data
    assert message.content[0].text.value == "written by the worker"
    # ...and the other way round: this process's message is visible to a new process's reads.
    client.beta.threads.messages.create(made["thread"], role="user", content="and from the tests")
    assert len(client.beta.threads.messages.list(made["thread"]).data) == 2


async def test_racing_processes_never_both_start_a_run_on_one_thread(database_url, storage):
    threads = [make_thread() for _ in range(100)]
    for thread in threads:
        await storage.create_thread(thread, [])
    ids = [t["id"] for t in threads]
    racers = [worker("race", database_url, *ids) for _ in range(2)]
    for racer in racers:
        assert racer.stdout.readline() == "ready\n"
    for racer in racers:  # on your marks...
        racer.stdin.write("go\n")
        racer.stdin.flush()
    won_first, won_second = output(racers[0]), output(racers[1])
    print(f"wins: {len(won_first)} / {len(won_second)}")
    assert not set(won_first) & set(won_second)  # never two winners
    assert sorted(won_first + won_second) == sorted(ids)  # always one
    for thread_id in ids:
        assert len((await storage.list_runs(thread_id, ListQuery())).data) == 1


async def test_processes_attaching_to_one_store_at_once_keep_its_counts_exact(database_url, storage):
    store = make_vector_store()
    await storage.create_vector_store(store, [])
    shared = [f"file-shared{i:03d}" for i in range(20)]  # attached by both processes: once
    racers = [worker("attach", database_url, store["id"], *shared) for _ in range(2)]
    for racer in racers:
        assert racer.stdout.readline() == "ready\n"
    for racer in racers:
        racer.stdin.write("go\n")
        racer.stdin.flush()
    attached = [file_id for racer in racers for file_id in output(racer)]
    shown = await storage.get_vector_store(store["id"])
    assert shown["file_counts"] == file_counts({"completed": len(attached), "in_progress": len(shared)})
    assert shown["usage_bytes"] == 3 * len(attached) + len(shared)
    assert sorted(await storage.vector_stores_of_file(shared[0])) == [store["id"]]


def test_a_run_of_a_killed_process_is_reported_failed(database_url, client_on):
    process = worker("hang", database_url)
    made = json.loads(process.stdout.readline())
    process.kill()
    process.communicate()
    client = client_on(database_url)
    engine = app_of(client).engine
    engine.orphan_after = 1.0
    run = client.beta.threads.runs.retrieve(made["run"], thread_id=made["thread"])
    deadline = time.monotonic() + 30
    while run.status == "in_progress":
        assert time.monotonic() < deadline, "the dead process's run stayed in progress"
        time.sleep(0.2)
        run = client.beta.threads.runs.retrieve(made["run"], thread_id=made["thread"])
    assert run.status == "failed" and run.last_error.code == "server_error"
    assert "stopped" in run.last_error.message
    [message] = client.beta.threads.messages.list(made["thread"], run_id=run.id).data
    assert message.status == "incomplete" and message.incomplete_details.reason == "run_failed"
    # The thread is free again.
    client.beta.threads.messages.create(made["thread"], role="user", content="hello again")


async def test_an_idle_process_ends_a_killed_process_run_nobody_reads(database_url, storage, client_on):
    process = worker("hang", database_url)
    made = json.loads(process.stdout.readline())
    process.kill()  # SIGKILL mid-run: no heartbeat, no ending recorded
    process.communicate()
    idle = client_on(database_url)
    engine = app_of(idle).engine
    engine.orphan_after, engine.sweep_interval = 1.0, 0.2
    idle.beta.assistants.list()  # serving, then idle: nobody reads the run, lists it or posts to its thread
    deadline = time.monotonic() + 30
    while (run := await storage.get_run(made["thread"], made["run"]))["status"] == "in_progress":
        assert time.monotonic() < deadline, "the idle process never ended the dead process's run"
        await asyncio.sleep(0.1)
    assert run["status"] == "failed" and "stopped" in run["last_error"]["message"]
    [message] = (await storage.list_messages(made["thread"], ListQuery(), run_id=made["run"])).data
    assert message["status"] == "incomplete"


async def test_a_job_of_a_killed_process_is_reclaimed_and_finished_by_another(database_url, storage, client_on):
    from worker import JOB_KIND, count_steps

    process = worker("job", database_url)
    made = json.loads(process.stdout.readline())  # the job is half done, checkpointed at 2 of 4
    process.kill()  # SIGKILL mid-job: its lease is no longer renewed
    process.communicate()
    assert (await storage.get_job(made["job"]))["payload"]["done"] == 2
    survivor = app_of(client_on(database_url))
    survivor.jobs.register(JOB_KIND, count_steps)
    engine = survivor.engine
    engine.orphan_after, engine.sweep_interval, engine.heartbeat_interval = 1.0, 0.2, 0.2
    await run_async(_watch(survivor))  # as the App's first request does
    deadline = time.monotonic() + 30
    while (job := await storage.get_job(made["job"]))["status"] == "running":
        assert time.monotonic() < deadline, "nobody took over the killed process's job"
        await asyncio.sleep(0.1)
    assert job["status"] == "completed" and job["attempt"] == 2 and job["last_error"] is None
    # Resumed from its last checkpoint: the survivor made the last two steps, none twice.
    assert job["payload"]["done"] == 4 and job["payload"]["steps_by"] == [1, 1, 2, 2]


async def _watch(app):
    app.engine.watch()
