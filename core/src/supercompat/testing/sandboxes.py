"""SandboxTests: the behaviour every Sandbox must have (``supercompat.sandboxes``): sessions that keep
their state, run cells with limits, move files in and out of ``/mnt/data``; and what the code they
run must not reach (the isolation checks, modelled on escape attempts measured against bubblewrap):
the host's files, environment and processes, the network (the host's loopback services too), the
system directories, and the host's memory, disk and process table beyond the sandbox's limits.

    class TestMySandbox(SandboxTests):
        @pytest.fixture
        async def sandbox(self):
            sandbox = MySandbox(...)
            yield sandbox
            await sandbox.close()
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ..sandboxes import MOUNT, Execution, Sandbox, SandboxFile, SandboxSession
from .kit import Kit, fixture, mark, pytest

#: A cell that should take milliseconds gets this long (a loaded machine, a cold interpreter).
CELL_TIMEOUT = 60.0
#: The time limit of the cells that never end on their own.
SHORT_TIMEOUT = 1.0

FORK_BOMB = """
import os
children, failure = 0, None
try:
    while children < 5000:
        pid = os.fork()
        if pid == 0:
            os._exit(0)  # a zombie until reaped below: it still counts
        children += 1
except OSError as e:
    failure = e.errno
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        break
print(children, failure)
"""


class SandboxTests(Kit, standard=True):
    """Subclass and provide an async fixture ``sandbox`` (a Sandbox, closed after the test)."""

    @fixture
    async def sandbox(self) -> Sandbox:  # pragma: no cover - subclasses override
        raise NotImplementedError("provide a `sandbox` fixture")

    @fixture
    async def session(self, sandbox: Sandbox) -> AsyncIterator[SandboxSession]:
        session = await sandbox.open()
        yield session
        await session.close()

    async def _run(self, session: SandboxSession, code: str, timeout: float = CELL_TIMEOUT) -> Execution:
        execution = await session.run(code, timeout=timeout)
        assert isinstance(execution, Execution)
        return execution

    async def _ok(self, session: SandboxSession, code: str) -> str:
        """The logs of a cell that must not fail."""
        execution = await self._run(session, code)
        assert not execution.error and not execution.timed_out, execution.logs
        return execution.logs

    async def _json(self, session: SandboxSession, code: str) -> Any:
        """What a cell prints last as JSON (``print(json.dumps(...))``)."""
        logs = await self._ok(session, "import json\n" + code)
        return json.loads(logs.strip().splitlines()[-1])

    # -- sessions ------------------------------------------------------------------------------------
    async def test_a_session_is_a_session(self, sandbox: Sandbox, session: SandboxSession) -> None:
        assert isinstance(sandbox, Sandbox) and isinstance(session, SandboxSession)

    async def test_state_persists_across_cells(self, session: SandboxSession) -> None:
        await self._ok(session, "import math\nanswer = 41\ndef more(x):\n    return x + 1")
        assert (await self._ok(session, "more(answer), math.floor(2.5)")).strip() == "(42, 2)"

    async def test_the_last_expression_is_echoed(self, session: SandboxSession) -> None:
        assert await self._ok(session, "x = [1, 2]\nx") == "[1, 2]\n"
        assert await self._ok(session, "None") == ""  # None isn't
        assert await self._ok(session, "y = 3") == ""
        assert await self._ok(session, "print('shown')\n'a' + 'b'") == "shown\n'ab'\n"

    async def test_stdout_and_stderr_are_captured_in_order(self, session: SandboxSession) -> None:
        logs = await self._ok(session, "import sys\nprint('one')\nprint('two', file=sys.stderr)\nprint('three')\n"
                                       "sys.stderr.write('four\\n')")
        assert logs.splitlines()[:4] == ["one", "two", "three", "four"]

    async def test_an_exception_ends_the_cell_not_the_session(self, session: SandboxSession) -> None:
        await self._ok(session, "kept = 'still here'")
        execution = await self._run(session, "print('before')\ndef f():\n    return 1 / 0\nf()")
        assert execution.error and not execution.timed_out and not execution.restarted
        assert execution.logs.startswith("before\n")
        assert "Traceback" in execution.logs and execution.logs.rstrip().endswith(
            "ZeroDivisionError: division by zero")
        assert "return 1 / 0" in execution.logs  # the line, as Jupyter shows it
        assert (await self._ok(session, "kept")).strip() == "'still here'"
        syntax = await self._run(session, "def (:")
        assert syntax.error and "SyntaxError" in syntax.logs
        exited = await self._run(session, "exit(3)")  # ends the cell, not the session
        assert (await self._ok(session, "kept")).strip() == "'still here'" and not exited.restarted

    # -- files -----------------------------------------------------------------------------------------
    async def test_files_go_in_and_out_of_mnt_data(self, session: SandboxSession) -> None:
        assert await session.put("in.csv", b"a,b\n1,2\n") == f"{MOUNT}/in.csv"
        assert await session.put(f"{MOUNT}/deep/er/raw.bin", bytes(range(256))) == f"{MOUNT}/deep/er/raw.bin"
        seen = await self._json(session, "print(json.dumps([open('/mnt/data/in.csv').read(), "
                                         "len(open('deep/er/raw.bin', 'rb').read())]))")
        assert seen == ["a,b\n1,2\n", 256]
        await self._ok(session, "import os\nos.makedirs('/mnt/data/out', exist_ok=True)\n"
                                "open('/mnt/data/out/result.txt', 'w').write('made inside')\n"
                                "open('in.csv', 'a').write('3,4\\n')")
        assert await session.get("out/result.txt") == b"made inside"
        assert await session.get(f"{MOUNT}/in.csv") == b"a,b\n1,2\n3,4\n"
        assert await session.get("absent.txt") is None
        assert await session.get("out") is None  # a directory isn't a file
        files = await session.files()
        assert [f.path for f in files] == [f"{MOUNT}/deep/er/raw.bin", f"{MOUNT}/in.csv", f"{MOUNT}/out/result.txt"]
        assert all(isinstance(f, SandboxFile) for f in files)
        assert [f.size for f in files] == [256, 12, 11] and all(f.modified > 0 for f in files)
        await session.put("in.csv", b"replaced")  # overwrites, and the code can change what we put
        assert (await self._ok(session, "open('in.csv').read()")).strip() == "'replaced'"
        await self._ok(session, "open('in.csv', 'w').write('changed'); import os; os.remove('deep/er/raw.bin')")
        assert await session.get("in.csv") == b"changed" and await session.get("deep/er/raw.bin") is None

    @mark.parametrize("path", ["../escape.txt", "/etc/passwd", "/mnt/data/../escape.txt", "a/../../b", "/mnt",
                               "/mnt/database/x", ""])
    async def test_paths_that_leave_mnt_data_are_refused(self, session: SandboxSession, path: str) -> None:
        with pytest.raises(ValueError):
            await session.put(path, b"x")
        with pytest.raises(ValueError):
            await session.get(path)

    async def test_links_made_inside_dont_lead_the_host_out(self, session: SandboxSession, tmp_path: Path) -> None:
        """The code controls /mnt/data: a link it makes to a path of the host is not followed by
        ``get`` or ``put`` (which replaces the link, never writes its target) or listed by ``files``."""
        secret = tmp_path / "host-secret.txt"
        secret.write_text("host only")
        await self._ok(session, f"import os\nos.symlink({str(secret)!r}, 'link.txt')\n"
                                f"os.symlink({str(tmp_path)!r}, 'linkdir')\nos.symlink('/etc', 'etc')")
        assert await session.get("link.txt") is None
        assert await session.get("linkdir/host-secret.txt") is None
        assert await session.get("etc/passwd") is None
        assert await session.files() == []
        with pytest.raises(ValueError):
            await session.put("linkdir/planted.txt", b"x")
        await session.put("link.txt", b"a file now")
        assert secret.read_text() == "host only" and not (tmp_path / "planted.txt").exists()
        assert await session.get("link.txt") == b"a file now"

    async def test_a_matplotlib_figure_comes_back_as_png(self, session: SandboxSession) -> None:
        probe = await self._run(session, "import matplotlib")
        if probe.error:
            pytest.skip("matplotlib isn't importable inside this sandbox (configure its Python environment)")
        execution = await self._run(session, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\n"
                                             "plt.title('squares')\nplt.figure()\nplt.bar(['a'], [1])\nprint('drawn')")
        assert not execution.error, execution.logs
        assert "drawn" in execution.logs and len(execution.images) == 2
        assert all(image.startswith(b"\x89PNG\r\n\x1a\n") for image in execution.images)
        assert (await self._run(session, "len(plt.get_fignums())")).logs.strip() == "0"  # closed
        assert (await self._run(session, "1")).images == ()

    # -- limits in time ---------------------------------------------------------------------------------
    async def test_a_busy_cell_stops_at_its_time_limit(self, session: SandboxSession) -> None:
        await self._ok(session, "kept = 7\nopen('kept.txt', 'w').write('kept')")
        execution = await self._run(session, "print('started')\nwhile True:\n    pass", timeout=SHORT_TIMEOUT)
        assert execution.timed_out and not execution.error
        assert execution.logs.startswith("started\n") and "time limit" in execution.logs
        after = await self._run(session, "'answering'")
        assert after.logs.strip() == "'answering'"
        if not execution.restarted:
            assert (await self._ok(session, "kept")).strip() == "7"
        assert await session.get("kept.txt") == b"kept"

    async def test_a_cell_that_ignores_interrupts_is_stopped_too(self, session: SandboxSession) -> None:
        await session.put("kept.txt", b"kept")
        code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.01)"
        execution = await self._run(session, code, timeout=SHORT_TIMEOUT)
        assert execution.timed_out and "time limit" in execution.logs
        assert (await self._ok(session, "6 * 7")).strip() == "42"
        assert await session.get("kept.txt") == b"kept"  # a restart keeps the files

    async def test_cancelling_a_cell_stops_it(self, session: SandboxSession) -> None:
        await self._ok(session, "kept = 'yes'")
        cell = asyncio.ensure_future(session.run(
            "n = 0\nopen('started', 'w').close()\nwhile True:\n    n += 1\n    open('counter', 'w').write(str(n))",
            timeout=CELL_TIMEOUT))
        while await session.get("started") is None:
            await asyncio.sleep(0.02)
        cell.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cell
        execution = await self._run(session, "'next'")
        assert execution.logs.strip() == "'next'" and not execution.timed_out
        first = await session.get("counter")
        await self._ok(session, "import time; time.sleep(0.2)")
        assert await session.get("counter") == first  # nothing counts any more
        if not execution.restarted:
            assert (await self._ok(session, "kept")).strip() == "'yes'"

    # -- sessions apart ---------------------------------------------------------------------------------
    async def test_close_ends_the_session_and_removes_its_files(self, sandbox: Sandbox) -> None:
        session = await sandbox.open()
        await session.put("a.txt", b"a")
        await self._ok(session, "open('b.txt', 'w').write('b')")
        await session.close()
        assert await session.get("a.txt") is None and await session.files() == []
        with pytest.raises(RuntimeError):
            await session.run("1", timeout=CELL_TIMEOUT)
        await session.close()  # again: nothing

    async def test_two_sessions_share_nothing(self, sandbox: Sandbox) -> None:
        one, other = await sandbox.open(), await sandbox.open()
        try:
            await one.put("mine.txt", b"one's")
            await self._ok(one, "secret = 'one'\nopen('made.txt', 'w').write('one')")
            assert await other.get("mine.txt") is None and await other.get("made.txt") is None
            assert await other.files() == []
            assert (await self._run(other, "secret")).error
            seen = await self._json(other, "import os\nprint(json.dumps(sorted(os.listdir('/mnt/data'))))")
            assert seen == []
        finally:
            await one.close()
            await other.close()

    async def test_close_of_the_sandbox_ends_its_sessions(self, sandbox: Sandbox) -> None:
        session = await sandbox.open()
        await session.put("a.txt", b"a")
        await sandbox.close()
        assert await session.get("a.txt") is None

    # -- isolation: what the code must not reach ----------------------------------------------------------
    async def test_host_files_are_not_visible(self, session: SandboxSession, tmp_path: Path) -> None:
        canary = tmp_path / "canary.txt"
        canary.write_text("host")
        import supercompat

        host = [str(canary), str(tmp_path), os.path.dirname(os.path.abspath(supercompat.__file__))]
        if os.getcwd() not in ("/", "/tmp", MOUNT):
            host.append(os.getcwd())
        seen = await self._json(session, f"import os\npaths = {host!r}\n"
                                         "print(json.dumps([p for p in paths if os.path.exists(p)]))")
        assert seen == []
        passwd = await self._json(session, "import os\nprint(json.dumps(open('/etc/passwd').read() "
                                           "if os.path.exists('/etc/passwd') else None))")
        if passwd is not None and os.path.exists("/etc/passwd"):
            assert passwd != Path("/etc/passwd").read_text()  # the image's own, not the host's
        try:
            host_root = set(os.listdir("/root")) - {".bashrc", ".profile", ".cache"}
        except OSError:
            host_root = set()
        inside = await self._json(session, "import os\ntry:\n    names = os.listdir('/root')\n"
                                           "except OSError:\n    names = []\nprint(json.dumps(names))")
        assert not (host_root and host_root <= set(inside))

    async def test_system_directories_cant_be_written(self, session: SandboxSession) -> None:
        written = await self._json(session, (
            "written = []\n"
            "for d in ['/', '/usr', '/usr/lib', '/etc', '/bin', '/var', '/root', '/opt', '/mnt']:\n"
            "    try:\n"
            "        open(d.rstrip('/') + '/supercompat-probe', 'w').close()\n"
            "        written.append(d)\n"
            "    except OSError:\n"
            "        pass\n"
            "print(json.dumps(written))"))
        assert written == []

    async def test_loopback_services_of_the_host_are_unreachable(self, session: SandboxSession) -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        try:
            port = listener.getsockname()[1]
            reached = await self._json(session, (
                "import socket\nreached = []\n"
                f"for port in [{port}, 5432, 6379, 3306, 80]:\n"
                "    try:\n"
                "        socket.create_connection(('127.0.0.1', port), timeout=3).close()\n"
                "        reached.append(port)\n"
                "    except OSError:\n"
                "        pass\n"
                "print(json.dumps(reached))"))
            assert reached == []
        finally:
            listener.close()

    async def test_there_is_no_dns(self, session: SandboxSession) -> None:
        resolved = await self._json(session, (
            "import socket\ntry:\n    socket.getaddrinfo('example.com', 443)\n    resolved = True\n"
            "except OSError:\n    resolved = False\nprint(json.dumps(resolved))"))
        assert resolved is False

    async def test_a_4_gib_allocation_fails(self, session: SandboxSession) -> None:
        execution = await self._run(session, "block = b'x' * (4 << 30)")
        assert (execution.error and "MemoryError" in execution.logs) or execution.restarted, execution.logs
        assert (await self._ok(session, "'alive'")).strip() == "'alive'"

    async def test_a_200_mb_file_is_refused(self, session: SandboxSession) -> None:
        failure = await self._json(session, (
            "failure = None\nchunk = b'x' * (1 << 20)\n"
            "try:\n    with open('/mnt/data/big.bin', 'wb') as f:\n        for _ in range(200):\n"
            "            f.write(chunk)\n            f.flush()\n"
            "except OSError as e:\n    failure = e.errno\n"
            "import os\nos.remove('/mnt/data/big.bin')\nprint(json.dumps(failure))"))
        assert failure == errno.EFBIG

    async def test_mounting_fails(self, session: SandboxSession) -> None:
        result = await self._json(session, (
            "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "print(json.dumps(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)))"))
        assert result == -1

    async def test_a_fork_bomb_is_contained(self, session: SandboxSession) -> None:
        children, failure = map(json.loads, (await self._ok(session, FORK_BOMB)).split())
        assert failure == errno.EAGAIN and children < 5000
        assert (await self._ok(session, "'alive'")).strip() == "'alive'"
        # and the host can still start processes
        assert subprocess.run([sys.executable, "-c", "pass"], timeout=CELL_TIMEOUT).returncode == 0

    async def test_host_processes_are_not_visible(self, session: SandboxSession) -> None:
        seen = await self._json(session, (
            "import os\ncommands = []\n"
            "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
            "    try:\n"
            "        commands.append(open(f'/proc/{pid}/cmdline', 'rb').read().decode(errors='replace'))\n"
            "    except OSError:\n"
            "        pass\n"
            "print(json.dumps(commands))"))
        assert len(seen) < 10 and not any("pytest" in command for command in seen)
        assert str(os.getpid()) not in seen

    async def test_the_host_environment_is_not_visible(self, sandbox: Sandbox,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
        canary = secrets.token_hex(16)
        monkeypatch.setenv("SUPERCOMPAT_SANDBOX_CANARY", canary)
        session = await sandbox.open()
        try:
            seen = await self._json(session, (
                f"import os\ncanary = {canary!r}\n"
                "found = [k for k, v in os.environ.items() if k.startswith('SUPERCOMPAT') or canary in v]\n"
                "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
                "    try:\n"
                "        found += [pid] if canary.encode() in open(f'/proc/{pid}/environ', 'rb').read() else []\n"
                "    except OSError:\n"
                "        pass\n"
                "print(json.dumps(found))"))
            assert seen == []
        finally:
            await session.close()
