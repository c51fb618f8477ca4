"""The ``bubblewrap`` sandbox: each session a Python REPL (``supercompat.sandbox_repl``) inside
`bubblewrap <https://github.com/containers/bubblewrap>`_ (``bwrap``), the unprivileged sandbox of
Flatpak. What it stops and what it doesn't: docs/sandboxes.md.

A session's process sees a filesystem of its own: ``/usr`` (and the ``/lib``, ``/bin`` links) and
the interpreter's prefixes read-only, a fresh ``/dev``, ``/proc`` of its own process namespace, a
small tmpfs ``/tmp``, and ``/mnt/data``, the session's directory on the host. It has no network (its
own namespace: not even the host's loopback), no environment but a few variables, no capabilities,
the uid 1000 inside, and kernel limits on memory, CPU time, file size, open files and processes.
When supercompat runs as root, the sandbox runs as an unprivileged host uid (``uid``, 65534 by
default): as root, the kernel would not bound its number of processes.

On the host a session is a directory under ``work_dir``: ``data`` (its ``/mnt/data``), ``in`` (the
host writes cells there; read-only inside) and ``out`` (the REPL's output and figures). The host
reads and writes ``data`` and ``out``, which the sandbox also writes, without following links
(``openat`` with ``O_NOFOLLOW`` at every step), so that no link made inside points the host at its
own files.

Processes are started with ``posix_spawn`` (as the extraction workers are, see
``supercompat.ingest.sandbox``) and their pipes read on the running loop, so that it also works under
gevent's monkey patching.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import posixpath
import secrets
import shutil
import signal
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from . import loop as _loop
from .ingest.sandbox import _above_stdio, readable
from .sandboxes import MOUNT, NO_SANDBOX_HELP, Execution, SandboxFile, SandboxUnavailable

#: Where the REPL's directories are inside the sandbox.
IN, OUT = "/var/lib/repl/in", "/var/lib/repl/out"
#: How long an interrupted cell has to stop before its process is killed (and restarted).
INTERRUPT_GRACE_S = 2.0
#: How long a new session's REPL has to say it is ready.
START_TIMEOUT_S = 30.0
#: A cell's logs past this many bytes keep their first and last halves.
MAX_LOG_BYTES = 1 << 20
#: Figures kept from one cell, and the largest one read.
MAX_FIGURES, MAX_FIGURE_BYTES = 32, 16 << 20
#: Files listed by ``files()`` at most.
MAX_FILES = 10_000
#: Open files a sandboxed process may have.
OPEN_FILES = 256
PNG = b"\x89PNG\r\n\x1a\n"
SESSION_ENV = {"HOME": "/tmp", "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}
_REPL_SOURCE: str | None = None


class BubblewrapOptions(BaseModel):
    """``[sandbox] plugin = "bubblewrap"``: see docs/sandboxes.md."""

    model_config = ConfigDict(extra="forbid")

    #: The interpreter inside: a venv's python gives the sandbox that venv's packages.
    python: str = "/usr/bin/python3"
    #: Address space of each process (RLIMIT_AS).
    memory_mb: int = Field(1024, ge=64)
    #: CPU time each process may use in all (RLIMIT_CPU): the kernel's bound behind each cell's own
    #: time limit, for processes a cell leaves running; past it the process is killed.
    cpu_seconds: int = Field(600, ge=1)
    #: The largest file a process may write (RLIMIT_FSIZE).
    file_size_mb: int = Field(100, ge=1)
    #: Processes and threads of a session at once (RLIMIT_NPROC).
    processes: int = Field(64, ge=4)
    #: Size of the session's /tmp (memory).
    tmp_mb: int = Field(256, ge=1)
    #: The host uid (and gid) sessions run as when supercompat runs as root.
    uid: int = Field(65534, ge=1)
    #: Where sessions' directories live on the host (default: a new temporary directory).
    work_dir: str | None = None


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def repl_source() -> str:
    global _REPL_SOURCE
    if _REPL_SOURCE is None:
        _REPL_SOURCE = (Path(__file__).with_name("sandbox_repl.py")).read_text(encoding="utf-8")
    return _REPL_SOURCE


class ReplProcess:
    """A spawned process: its pid, the pipe to its stdin and the pipe from its fd ``replies_fd`` (3,
    or 1 for a process that can't be given more than stdio, like ``docker run``)."""

    def __init__(self, executable: str, argv: list[str], log: str, replies_fd: int = 3,
                 env: dict[str, str] | None = None) -> None:
        child_input, self.requests = map(_above_stdio, os.pipe())
        self.replies, child_output = map(_above_stdio, os.pipe())
        log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        try:
            spawn = _loop.unpatched("os", "posix_spawn")  # gevent's would watch it from a hub
            self.pid = spawn(executable, argv, env or {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                             setsid=True, file_actions=[
                (os.POSIX_SPAWN_DUP2, child_input, 0), (os.POSIX_SPAWN_DUP2, null, 1),
                (os.POSIX_SPAWN_DUP2, log_fd, 2), (os.POSIX_SPAWN_DUP2, child_output, replies_fd)])
        except BaseException:
            os.close(self.requests)
            os.close(self.replies)
            raise
        finally:
            for fd in (child_input, child_output, log_fd, null):
                os.close(fd)
        os.set_blocking(self.replies, False)
        os.set_blocking(self.requests, False)
        self.returncode: int | None = None
        self.pending = bytearray()
        self.eof = False
        self.open = True

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = _loop.unpatched("os", "waitpid")(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by another (gevent's SIGCHLD watcher)
                self.returncode = 1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send(self, message: dict[str, Any]) -> bool:
        """Write one short line (atomic in a pipe); False if the process can't take it."""
        if not self.open:
            return False
        try:
            os.write(self.requests, json.dumps(message).encode() + b"\n")
        except OSError:  # gone, or not reading (its pipe is full)
            return False
        return True

    async def line(self) -> dict[str, Any] | None:
        """The next JSON line from fd 3; None at its end (or if it is not JSON, or too long)."""
        while b"\n" not in self.pending:
            if self.eof or not self.open or len(self.pending) > 1 << 16:
                return None
            try:
                chunk = os.read(self.replies, 1 << 16)
            except BlockingIOError:
                await readable(self.replies)
                continue
            if not chunk:
                self.eof = True
            self.pending += chunk
        end = self.pending.index(b"\n")
        line, self.pending = bytes(self.pending[:end]), self.pending[end + 1:]
        try:
            reply = json.loads(line)
        except ValueError:
            return None
        return reply if isinstance(reply, dict) else None

    def ended(self, number: int) -> bool:
        """Whether cell ``number``'s reply has come (read without waiting; the lines up to it taken)."""
        while self.open and not self.eof:
            try:
                chunk = os.read(self.replies, 1 << 16)
            except BlockingIOError:
                break
            self.eof = not chunk
            self.pending += chunk
        lines = bytes(self.pending).split(b"\n")
        for index, line in enumerate(lines[:-1]):
            with contextlib.suppress(ValueError):
                if json.loads(line).get("done") == number:
                    self.pending = bytearray(b"\n".join(lines[index + 1:]))
                    return True
        return False

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.close_pipes()

    def close_pipes(self) -> None:
        if self.open:
            self.open = False
            os.close(self.requests)
            os.close(self.replies)

    async def reap(self, seconds: float = 5.0) -> int | None:
        for _ in range(int(seconds / 0.01)):
            if self.poll() is not None:
                break
            await asyncio.sleep(0.01)
        return self.returncode


# -- files under a directory the sandbox also writes: never following a link -----------------------------
def _parts(path: str) -> list[str]:
    """``path`` (relative to /mnt/data, or absolute within it) as names under it; ValueError if it
    leaves it."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise ValueError(f"{path!r} is not a path under {MOUNT}")
    if path.startswith("/"):
        if path != MOUNT and not path.startswith(MOUNT + "/"):
            raise ValueError(f"{path!r} is not under {MOUNT}")
        path = path[len(MOUNT):]
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"{path!r} is not a file path under {MOUNT}")
    return parts


def _open_dir(root: str, names: list[str], *, create: bool = False, owner: int | None = None) -> int:
    """A descriptor of ``root/names...``, each step a directory, never a link (OSError else)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for name in names:
            if create:
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                    if owner is not None:
                        os.chown(name, owner, owner, dir_fd=fd, follow_symlinks=False)
                except FileExistsError:
                    pass
            step = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = step
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_regular(dir_fd: int, name: str, limit: int | None = None) -> bytes | None:
    """The bytes of the regular file ``name`` (not a link, FIFO or device); None if there is none."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as file:
        if limit is None or info.st_size <= limit:
            return file.read()
        half = limit // 2
        head = file.read(half)
        file.seek(-half, os.SEEK_END)
        omitted = info.st_size - 2 * half
        return head + f"\n[... {omitted} bytes omitted ...]\n".encode() + file.read(half)


def _read_file(directory: str, name: str, limit: int) -> str:
    """The start of a file of ours (a log), as text; empty if there is none."""
    try:
        with open(os.path.join(directory, name), "rb") as file:
            return file.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _safe_get(root: str, path: str) -> bytes | None:
    parts = _parts(path)
    try:
        fd = _open_dir(root, parts[:-1])
    except OSError:
        return None
    try:
        return _read_regular(fd, parts[-1])
    finally:
        os.close(fd)


def _safe_put(root: str, path: str, data: bytes, owner: int | None) -> str:
    parts = _parts(path)
    try:
        fd = _open_dir(root, parts[:-1], create=True, owner=owner)
    except OSError as e:
        raise ValueError(f"{path!r}: a part of it is not a directory under {MOUNT} ({e.strerror})") from None
    try:
        temporary = f".{parts[-1][:100]}.{secrets.token_hex(6)}.part"
        out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                      dir_fd=fd)
        try:
            with os.fdopen(out, "wb") as file:
                file.write(data)
                if owner is not None:
                    os.fchown(file.fileno(), owner, owner)
            os.rename(temporary, parts[-1], src_dir_fd=fd, dst_dir_fd=fd)  # replaces a link, not its target
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=fd)
            raise
    finally:
        os.close(fd)
    return posixpath.join(MOUNT, *parts)


def _safe_files(root: str) -> list[SandboxFile]:
    found: list[SandboxFile] = []
    try:
        top = _open_dir(root, [])
    except OSError:
        return found
    try:
        for directory, _, names, dir_fd in os.fwalk(".", dir_fd=top):  # never into a link
            for name in names:
                try:
                    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode):
                    path = posixpath.normpath(posixpath.join(MOUNT, directory, name))
                    found.append(SandboxFile(path, info.st_size, info.st_mtime))
                    if len(found) >= MAX_FILES:
                        break
            if len(found) >= MAX_FILES:
                break
    finally:
        os.close(top)
    return sorted(found, key=lambda f: f.path)


async def _in_thread(fn: Any, *args: Any) -> Any:
    from ._threads import call_in_thread

    return await call_in_thread(fn, *args)


class ReplSession:
    """A session of a :class:`ReplSandbox`: see :class:`supercompat.sandboxes.SandboxSession` and the
    module's doc."""

    def __init__(self, sandbox: ReplSandbox, directory: str) -> None:
        self.sandbox = sandbox
        self.directory = directory  # on the host: data, in, out
        self.data = os.path.join(directory, "data")
        self.cells = os.path.join(directory, "in")
        self.outputs = os.path.join(directory, "out")
        self._process: ReplProcess | None = None
        self._cells = 0
        self._abandoned: int | None = None  # a cell cancelled, whose end hasn't been read
        self._lost = False  # its process was killed since the last cell: the next one says so
        self._lock: asyncio.Lock | None = None
        self.closed = False

    # -- the process ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        process = ReplProcess(*self.sandbox.command(self), os.path.join(self.directory, "start.log"),
                              self.sandbox.replies_fd, self.sandbox.environment())
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                ready = await process.line()
        except BaseException:
            process.kill()
            raise
        if ready is None or "ready" not in ready:
            process.kill()
            await process.reap()
            log = _read_file(self.directory, "start.log", 4096)
            raise SandboxUnavailable(
                f"The {self.sandbox.name} sandbox could not start its Python (exit status {process.returncode}): "
                f"{log.strip() or 'no message'}. See docs/sandboxes.md.")
        self._process = process

    async def _stop(self) -> None:
        if self._process is not None:
            process, self._process = self._process, None
            process.kill()
            await self.sandbox.stopped(self, process)
        self._abandoned = None

    async def _reply(self, process: ReplProcess, number: int) -> dict[str, Any] | None:
        while True:
            reply = await process.line()
            if reply is None or reply.get("done") == number:
                return reply

    # -- the contract ---------------------------------------------------------------------------------------
    async def run(self, code: str, *, timeout: float) -> Execution:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.closed:
                raise RuntimeError("this sandbox session is closed")
            restarted, self._lost = self._lost, False
            if self._process is not None and self._abandoned is not None:  # wait for a cancelled cell's end
                try:
                    async with asyncio.timeout(INTERRUPT_GRACE_S):
                        ended = await self._reply(self._process, self._abandoned)
                except TimeoutError:
                    ended = None
                self._abandoned = None
                if ended is None:
                    await self._stop()
                    restarted = True
            if self._process is None:
                await self.start()
            process = self._process
            assert process is not None
            self._cells += 1
            number = self._cells
            await _in_thread(self._write_cell, code)
            timed_out = False
            try:
                if not process.send({"run": number}):
                    reply = None
                else:
                    try:
                        async with asyncio.timeout(timeout):
                            reply = await self._reply(process, number)
                    except TimeoutError:
                        timed_out = True
                        process.send({"interrupt": number})
                        try:
                            async with asyncio.timeout(INTERRUPT_GRACE_S):
                                reply = await self._reply(process, number)
                        except TimeoutError:
                            reply = None
            except asyncio.CancelledError:
                process.send({"interrupt": number})  # stop the cell now; the next run reads its end
                self._abandoned = number
                # and if it doesn't stop, its process is killed even if no cell comes next
                asyncio.get_running_loop().call_later(INTERRUPT_GRACE_S, self._kill_if_still_running,
                                                      process, number)
                raise
            return await self._execution(process, reply, timeout, timed_out, restarted)

    def _kill_if_still_running(self, process: ReplProcess, number: int) -> None:
        if self._lock is not None and self._lock.locked():
            return  # a cell is waiting for it: that run decides
        if self._process is not process or self._abandoned != number:
            return
        if process.ended(number):
            self._abandoned = None  # its end is read: the session goes on as it was
        else:
            process.kill()  # the next run finds it ended and starts another
            self.sandbox.reap_later(process)
            self._abandoned = None
            self._process = None
            self._lost = True

    def _write_cell(self, code: str) -> None:
        temporary = os.path.join(self.cells, "cell.py.part")
        with open(temporary, "w", encoding="utf-8", errors="surrogatepass") as file:
            file.write(code)
        os.chmod(temporary, 0o644)
        os.replace(temporary, os.path.join(self.cells, "cell.py"))

    def _collect(self, figures: int) -> tuple[str, tuple[bytes, ...]]:
        try:
            fd = _open_dir(self.outputs, [])
        except OSError:
            return "", ()
        try:
            logs = (_read_regular(fd, "output", MAX_LOG_BYTES) or b"").decode("utf-8", "replace")
            images = []
            for index in range(min(figures, MAX_FIGURES)):
                image = _read_regular(fd, f"figure-{index}.png", MAX_FIGURE_BYTES * 2)
                if image is not None and image.startswith(PNG) and len(image) <= MAX_FIGURE_BYTES:
                    images.append(image)
            return logs, tuple(images)
        finally:
            os.close(fd)

    async def _execution(self, process: ReplProcess, reply: dict[str, Any] | None, timeout: float,
                         timed_out: bool, restarted: bool) -> Execution:
        figures = reply.get("figures", 0) if reply is not None else 0
        logs, images = await _in_thread(self._collect, figures if isinstance(figures, int) else 0)
        if logs and not logs.endswith("\n"):
            logs += "\n"
        if restarted:
            logs = ("(The session was restarted before this cell: a cancelled cell didn't stop when "
                    "interrupted. Its variables are gone, its files kept.)\n") + logs
        if reply is not None:
            if timed_out:
                logs += f"The cell was stopped at its time limit of {timeout:g} s.\n"
            return Execution(logs=logs, images=images, error=bool(reply.get("error")) and not timed_out,
                             timed_out=timed_out, restarted=restarted)
        await self._stop()
        status = await process.reap(1.0)
        if timed_out:
            logs += (f"The cell was stopped at its time limit of {timeout:g} s; it didn't stop when "
                     "interrupted, so the session was restarted: its variables are gone, its files kept.\n")
        else:
            logs += (f"The session's Python process ended ({_exit_reason(status)}) and was restarted: its "
                     "variables are gone, its files kept.\n")
        return Execution(logs=logs, images=images, error=not timed_out, timed_out=timed_out, restarted=True)

    async def put(self, path: str, data: bytes) -> str:
        self._check_open()
        written: str = await _in_thread(_safe_put, self.data, path, bytes(data), self.sandbox.owner)
        return written

    async def get(self, path: str) -> bytes | None:
        _parts(path)
        if self.closed:
            return None
        data: bytes | None = await _in_thread(_safe_get, self.data, path)
        return data

    async def files(self) -> list[SandboxFile]:
        if self.closed:
            return []
        found: list[SandboxFile] = await _in_thread(_safe_files, self.data)
        return found

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("this sandbox session is closed")

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self._stop()
        self.sandbox.sessions.discard(self)
        await _in_thread(shutil.rmtree, self.directory, True)


def _exit_reason(status: int | None) -> str:
    if status is None:
        return "killed"
    if status < 0 or status > 128:
        number = -status if status < 0 else status - 128
        names = {signal.SIGXCPU: "its CPU time limit", signal.SIGKILL: "killed", signal.SIGSEGV: "it crashed"}
        try:
            name = signal.Signals(number)
            return f"{names.get(name, name.name)}"
        except ValueError:
            pass
    return f"exit status {status}"


class ReplSandbox:
    """What a sandbox of REPL sessions shares (bubblewrap's, docker's): their host directories under a
    work directory, opening, stopping and reaping their processes. A subclass gives ``name``,
    ``command(session)``, ``replies_fd``, ``owner`` (the host uid to own the sessions' files, or
    None), and may override ``prepare()`` (before each open) and ``stopped(session, process)``."""

    name = "repl"
    replies_fd = 3

    def __init__(self, work_dir: str | None, owner: int | None) -> None:
        self.sessions: set[ReplSession] = set()
        self._work_dir_option = work_dir
        self._work_dir: str | None = None
        self._own_work_dir = False
        self._dying: list[ReplProcess] = []
        self.owner = owner

    def command(self, session: ReplSession) -> tuple[str, list[str]]:
        raise NotImplementedError

    async def prepare(self) -> None:
        """Check what sessions need (raising SandboxUnavailable), before each open."""

    def environment(self) -> dict[str, str] | None:
        """The environment of the command that starts a session (None: PATH only)."""
        return None

    async def stopped(self, session: ReplSession, process: ReplProcess) -> None:
        """``session``'s process was killed: reap it later (and whatever else the sandbox must do)."""
        self.reap_later(process)

    def work_dir(self) -> str:
        if self._work_dir is None:
            if self._work_dir_option is not None:
                os.makedirs(self._work_dir_option, exist_ok=True)
                self._work_dir = os.path.abspath(self._work_dir_option)
            else:
                self._work_dir = tempfile.mkdtemp(prefix="supercompat-sandbox-")
                self._own_work_dir = True
            os.chmod(self._work_dir, 0o711)  # the sandbox's uid passes through, can't list
        return self._work_dir

    async def open(self) -> ReplSession:
        await self.prepare()
        directory = os.path.join(self.work_dir(), secrets.token_hex(8))
        os.mkdir(directory, 0o711)
        for name, mode, sandbox_owned in (("data", 0o700, True), ("in", 0o755, False), ("out", 0o700, True)):
            os.mkdir(os.path.join(directory, name), mode)
            if sandbox_owned and self.owner is not None:
                os.chown(os.path.join(directory, name), self.owner, self.owner)
        session = ReplSession(self, directory)
        try:
            await session.start()
        except BaseException:
            await session.close()
            raise
        self.sessions.add(session)
        self._reap()
        return session

    def reap_later(self, process: ReplProcess) -> None:
        self._dying.append(process)
        self._reap()

    def _reap(self) -> None:
        self._dying = [process for process in self._dying if process.poll() is None]

    async def close(self) -> None:
        for session in list(self.sessions):
            await session.close()
        for process in self._dying:
            await process.reap(1.0)
        self._reap()
        if self._own_work_dir and self._work_dir is not None:
            await _in_thread(shutil.rmtree, self._work_dir, True)
            self._work_dir = None

    def after_fork(self) -> None:
        """In a forked child: the sessions are the parent's; forget them (their pipes closed here only)."""
        for session in self.sessions:
            process, session._process = session._process, None
            if process is not None:
                process.close_pipes()
            session.closed = True
        self.sessions = set()
        self._dying = []
        self._own_work_dir = False


BubblewrapSession = ReplSession


class BubblewrapSandbox(ReplSandbox):
    """Sessions under bwrap: see the module's doc and docs/sandboxes.md."""

    name = "bubblewrap"

    def __init__(self, options: BubblewrapOptions | None = None) -> None:
        self.options = options or BubblewrapOptions()
        self.as_root = os.geteuid() == 0
        super().__init__(self.options.work_dir, self.options.uid if self.as_root else None)
        self._binds: list[str] | None = None  # the interpreter's prefixes to bind, found on first open

    def _privileges(self) -> list[str]:
        """The command's start, dropping to ``uid`` first when running as root."""
        if not self.as_root:
            return []
        uid = str(self.options.uid)
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        return [sys.executable, "-I", "-S", "-c",
                "import os, sys; u = int(sys.argv[1]); os.setgroups([]); os.setresgid(u, u, u); "
                "os.setresuid(u, u, u); os.execv(sys.argv[2], sys.argv[2:])", uid]

    async def prepare(self) -> None:
        bwrap = bwrap_path()
        if bwrap is None:
            raise SandboxUnavailable(f"bwrap (bubblewrap) is not installed. {NO_SANDBOX_HELP}")
        self.bwrap = bwrap
        if self._binds is None:
            self._binds = await self._interpreter_prefixes()

    async def _interpreter_prefixes(self) -> list[str]:
        """The directories the interpreter needs besides /usr (a venv's, its base's), asking it as the
        sandbox's uid would run it; SandboxUnavailable if it can't run so."""
        python = self.options.python
        probe = os.path.join(self.work_dir(), f"probe-{secrets.token_hex(4)}")
        os.mkdir(probe, 0o711)
        try:
            # Whether its directory can be read too: a venv whose pyvenv.cfg can't be read runs as
            # its base interpreter, without its packages.
            process = ReplProcess(*self._argv(self._privileges() + [python, "-I", "-c",
                "import json, os, sys; print(json.dumps({'prefixes': [sys.prefix, sys.base_prefix, "
                "sys.exec_prefix, sys.base_exec_prefix], 'readable': os.access(os.path.dirname(sys.argv[1]), "
                "os.R_OK | os.X_OK)}), file=open(3, 'w', closefd=False))", os.path.abspath(python)]),
                os.path.join(probe, "log"))
            try:
                async with asyncio.timeout(START_TIMEOUT_S):
                    reply = await process.line()
            finally:
                process.kill()
                await process.reap()
            log = _read_file(probe, "log", 4096)
        finally:
            shutil.rmtree(probe, ignore_errors=True)
        prefixes = reply.get("prefixes") if reply is not None else None
        if not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes) or not (
                reply or {}).get("readable"):
            who = f" as uid {self.options.uid}" if self.as_root else ""
            why = log.strip() or "its directory can't be read"
            raise SandboxUnavailable(
                f"The sandbox's Python ({python}) can't run{who}: {why}. Point "
                f"[sandbox] python at an interpreter that uid can read (e.g. /usr/bin/python3, or a venv "
                f"made from it outside /root); see docs/sandboxes.md.")
        binds: list[str] = []
        needed = {os.path.realpath(p) for p in prefixes} | {os.path.dirname(os.path.abspath(python))}
        for prefix in sorted(needed):
            if prefix == "/usr" or prefix.startswith("/usr/") or any(
                    prefix == b or prefix.startswith(b + "/") for b in binds):
                continue
            binds.append(prefix)
        return binds

    @staticmethod
    def _argv(argv: list[str]) -> tuple[str, list[str]]:
        return argv[0], argv

    def command(self, session: BubblewrapSession) -> tuple[str, list[str]]:
        """The executable and argv that start ``session``'s REPL."""
        options = self.options
        argv = [*self._privileges(), self.bwrap, "--unshare-all", "--unshare-user", "--disable-userns",
                "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                argv += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                argv += ["--ro-bind", top, top]
        # /etc/fonts: which fonts there are (matplotlib asks fontconfig), nothing else of /etc
        argv += ["--ro-bind-try", "/etc/fonts", "/etc/fonts",
                 "--dev", "/dev", "--proc", "/proc", "--size", str(options.tmp_mb << 20), "--tmpfs", "/tmp"]
        for prefix in self._binds or []:  # after /tmp: a venv may live there
            argv += ["--ro-bind", prefix, prefix]
        argv += ["--bind", session.data, MOUNT, "--ro-bind", session.cells, IN, "--bind", session.outputs, OUT,
                 "--remount-ro", "/", "--chdir", MOUNT, "--clearenv", "--uid", "1000", "--gid", "1000",
                 "--hostname", "sandbox"]
        for name, value in SESSION_ENV.items():
            argv += ["--setenv", name, value]
        limits = {"AS": options.memory_mb << 20, "CPU": options.cpu_seconds,
                  "FSIZE": options.file_size_mb << 20, "NOFILE": OPEN_FILES, "NPROC": options.processes}
        argv += ["--", options.python, "-u", "-I", "-c", repl_source(), IN, OUT, json.dumps(limits)]
        return argv[0], argv


def bubblewrap_sandbox(options: BubblewrapOptions | None = None) -> BubblewrapSandbox:
    return BubblewrapSandbox(options)


__all__ = ["BubblewrapOptions", "BubblewrapSandbox", "BubblewrapSession", "ReplProcess", "ReplSandbox", "ReplSession",
           "bubblewrap_sandbox", "bwrap_path", "repl_source"]
