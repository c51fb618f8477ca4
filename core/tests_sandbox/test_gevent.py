"""A bubblewrap session used from a process under gevent's monkey patching (gunicorn -k gevent): its
processes are spawned and its pipes read without gevent's hub, on the core loop. In a fresh
interpreter, since patching must come before everything else."""

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("gevent")

SCRIPT = """
from gevent import monkey
monkey.patch_all()

import json
from supercompat.loop import run_sync
from supercompat.sandbox_bubblewrap import BubblewrapSandbox


async def main():
    sandbox = BubblewrapSandbox()
    session = await sandbox.open()
    first = await session.run("x = 6\\nprint('hi')\\nx * 7", timeout=30)
    stopped = await session.run("while True:\\n    pass", timeout=0.5)
    after = await session.run("x", timeout=30)
    await session.put("a.txt", b"a")
    files = [f.path for f in await session.files()]
    await sandbox.close()
    return [first.logs, stopped.timed_out, after.logs, files]


print(json.dumps(run_sync(main())))
"""


def test_a_session_works_under_gevent():
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", textwrap.dedent(SCRIPT)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["hi\n42\n", True, "6\n", ["/mnt/data/a.txt"]]
