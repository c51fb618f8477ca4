"""SQL storage for in-process clients under gevent's monkey patching (gunicorn -k gevent, celery -P
gevent): concurrent greenlets each complete their runs, on SQLite (whose driver runs a thread per
connection) and PostgreSQL. In a fresh interpreter: patching must come before everything else."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("gevent")

SCRIPT = """
from gevent import monkey
monkey.patch_all()

import json, sys
import gevent
from supercompat import supercompat
from supercompat.loop import run_sync
from supercompat.testing import scripted_client_adapter
from supercompat_sqlalchemy import sqlalchemy_storage_adapter

storage = sqlalchemy_storage_adapter(sys.argv[1])
client = supercompat(client_adapter=scripted_client_adapter(), storage_adapter=storage, max_retries=0)
assistant = client.beta.assistants.create(model="m")


def conversation(i):
    thread = client.beta.threads.create(messages=[{"role": "user", "content": f"hi {i}"}])
    polled = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                      poll_interval_ms=10)
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        stream.until_done()
        streamed = stream.get_final_run()
    return [polled.status, streamed.status, len(client.beta.threads.messages.list(thread.id).data)]


greenlets = [gevent.spawn(conversation, i) for i in range(8)]
gevent.joinall(greenlets, timeout=60)
run_sync(storage.close())
print(json.dumps([g.value if g.successful() else repr(g.exception) for g in greenlets]))
"""


def test_concurrent_greenlets_complete_their_runs(database_url):
    if database_url.startswith("mysql"):
        pytest.skip("MariaDB's driver is asyncio sockets, as PostgreSQL's: covered there")
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", SCRIPT, database_url], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [["completed", "completed", 3]] * 8
