"""Core's bubblewrap sandbox passes SandboxTests (tox env sandbox), with the Python environment that
``supercompat.testing.sandbox_python`` makes (numpy, pandas, matplotlib), or the one ``SUPERCOMPAT_SANDBOX_PYTHON``
names, else /usr/bin/python3 (the figure test is then skipped)."""

import asyncio
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from supercompat.sandbox_bubblewrap import BubblewrapOptions, BubblewrapSandbox
from supercompat.sandboxes import SandboxUnavailable
from supercompat.testing import SandboxTests
from supercompat.testing.sandbox_python import sandbox_python

PYTHON = sandbox_python()


class TestBubblewrap(SandboxTests):
    @pytest.fixture
    async def sandbox(self):
        sandbox = BubblewrapSandbox(BubblewrapOptions(python=PYTHON))
        yield sandbox
        await sandbox.close()


def processes_running(marker: str) -> list[int]:
    """The host's processes whose command line holds ``marker``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                if marker.encode() in file.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


async def ended(process, seconds: float = 20.0) -> bool:
    for _ in range(int(seconds / 0.05)):
        if process.poll() is not None:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_closing_a_session_removes_its_directory_and_every_process_it_started():
    sandbox = BubblewrapSandbox(BubblewrapOptions(python=PYTHON))
    try:
        session = await sandbox.open()
        marker = "4321.5"
        execution = await session.run(f"import subprocess\nsubprocess.Popen(['sleep', '{marker}'])", timeout=30)
        assert not execution.error, execution.logs
        left = processes_running(marker)
        assert left, "the session's process, left running after its cell, is there"
        directory = session.directory
        await session.close()
        assert not os.path.exists(directory)
        for _ in range(600):  # the kernel ends a process namespace's processes with its first one
            if not processes_running(marker):
                break
            await asyncio.sleep(0.05)
        assert processes_running(marker) == [], left
    finally:
        await sandbox.close()


async def test_a_session_whose_host_has_gone_ends_even_mid_cell():
    """The REPL exits when its input closes (the server died), without waiting for the cell to end."""
    sandbox = BubblewrapSandbox(BubblewrapOptions(python=PYTHON))
    try:
        session = await sandbox.open()
        cell = asyncio.ensure_future(session.run("open('started', 'w').close()\nwhile True:\n    pass",
                                                 timeout=600))
        while await session.get("started") is None:
            await asyncio.sleep(0.02)
        process = session._process
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, process.requests)  # the pipe's only writer closed, as when this process dies
        os.close(null)
        assert await ended(process)
        execution = await cell  # the session notices, and says so
        assert execution.error and execution.restarted and "ended" in execution.logs
        assert (await session.run("'restarted'", timeout=30)).logs == "'restarted'\n"
    finally:
        await sandbox.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root drops to another uid, which may not read the interpreter")
async def test_an_interpreter_the_sandbox_uid_cant_read_is_refused_saying_so(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(private / "venv")], check=True)
    sandbox = BubblewrapSandbox(BubblewrapOptions(python=str(private / "venv" / "bin" / "python")))
    try:
        with pytest.raises(SandboxUnavailable, match="can't run as uid 65534") as caught:
            await sandbox.open()
        assert "docs/sandboxes.md" in str(caught.value)
    finally:
        await sandbox.close()


async def test_a_venv_outside_usr_is_bound_and_used():
    home = Path(tempfile.mkdtemp())  # in the system's temporary directory, which every uid passes through
    home.chmod(0o755)
    venv = home / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    sandbox = BubblewrapSandbox(BubblewrapOptions(python=str(venv / "bin" / "python")))
    try:
        session = await sandbox.open()
        logs = (await session.run("import sys\nsys.prefix, sys.prefix != sys.base_prefix", timeout=30)).logs
        assert logs == f"({str(venv)!r}, True)\n"
    finally:
        await sandbox.close()
        shutil.rmtree(home)


async def test_a_cancelled_cell_that_wont_stop_is_killed_without_waiting_for_the_next():
    sandbox = BubblewrapSandbox(BubblewrapOptions(python=PYTHON))
    try:
        session = await sandbox.open()
        await session.run("kept = 1", timeout=30)
        cell = asyncio.ensure_future(session.run(
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nopen('started', 'w').close()\n"
            "while True:\n    pass", timeout=600))
        while await session.get("started") is None:
            await asyncio.sleep(0.02)
        process = session._process
        cell.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cell
        assert await ended(process)  # killed after the grace, no cell asking
        after = await session.run("'next'", timeout=30)
        assert after.restarted and after.logs.endswith("'next'\n") and "restarted" in after.logs
        assert (await session.run("kept", timeout=30)).error  # a new process
    finally:
        await sandbox.close()


async def test_a_cancelled_cell_that_stops_keeps_the_session():
    sandbox = BubblewrapSandbox(BubblewrapOptions(python=PYTHON))
    try:
        session = await sandbox.open()
        await session.run("kept = 1", timeout=30)
        cell = asyncio.ensure_future(session.run("open('started', 'w').close()\nwhile True:\n    pass",
                                                 timeout=600))
        while await session.get("started") is None:
            await asyncio.sleep(0.02)
        cell.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cell
        await asyncio.sleep(3)  # past the grace: the interrupted cell's end is read without a cell asking
        after = await session.run("kept", timeout=30)
        assert after.logs == "1\n" and not after.restarted
    finally:
        await sandbox.close()


async def test_a_flood_of_output_keeps_its_start_and_end():
    sandbox = BubblewrapSandbox(BubblewrapOptions(python=PYTHON))
    try:
        session = await sandbox.open()
        execution = await session.run("print('first')\nfor i in range(500_000):\n    print(i)\nprint('last')",
                                      timeout=60)
        assert execution.logs.startswith("first\n0\n") and execution.logs.endswith("499999\nlast\n")
        assert "bytes omitted" in execution.logs and len(execution.logs) < 1.1 * (1 << 20)
    finally:
        await sandbox.close()
