"""Reading files in worker processes with limits: what :func:`supercompat.ingest.extract_file` does.

A file comes from anyone who may upload one, and its readers (pypdf, lxml under python-docx and
python-pptx, html.parser) are large, partly C, code: a crafted file can make one allocate without end,
loop, or crash. In a thread of the server, that is the server's memory, CPU and life. So each file is
read in a worker process whose limits the kernel enforces:

- address space (``RLIMIT_AS``) of ``extraction.MEMORY_BYTES``: an allocation past it fails;
- CPU time (``RLIMIT_CPU``) of ``extraction.TIMEOUT_S`` for each file: past it the kernel ends the
  worker, even if the server has gone;
- no core dumps;
- wall-clock time of ``TIMEOUT_S``: the parent kills a worker that hasn't answered by then (a reader
  can block without using CPU).

A file past a limit fails with invalid_file, saying which ("The file took more than 60 s to read.");
one that crashes its reader fails too. The worker is replaced; the parent neither dies nor waits
longer than the timeout.

Workers are fresh interpreters (spawned, not forked: the parent may run threads, a gevent hub, an
event loop, none of which a forked child could use). One starts in about 0.2 s (and imports pypdf,
0.5 s, on its first PDF), so workers are reused file after file (a small text file then costs 0.1 ms
more than in a thread), at most :data:`WORKERS` at once (further files wait for one), and retired
after :data:`WORKER_MAX_FILES` files, after a file that ran out of memory, or after
:data:`WORKER_IDLE_S` idle seconds. They are the parent's children, tied to it by their input pipe:
when the parent exits, however it exits, their input closes and they exit, so nothing is left behind
and no hook into the App is needed (:func:`close_workers`, also run at exit, stops and reaps the idle
ones at once). A process forked from the parent starts with no workers of its own. On platforms
without ``resource`` (Windows), files are read in a thread, without these limits.

Not ``concurrent.futures.ProcessPoolExecutor``: it can't stop the worker of one file that hangs
without breaking the pool and every file in it, and its manager thread would be a greenlet, never
run, under gevent's monkey patching. Not ``multiprocessing``: its pipes wait with ``select``, which
gevent patches, and its spawn context adds a resource tracker process.

The pool belongs to no event loop: each file is awaited on whichever loop calls (the core loop, a
server's, a test's), and under gevent's monkey patching it uses Python's own process and lock.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import json
import os
import signal
import sys
import time
from typing import Any

from .. import loop as _loop
from . import extraction
from .extraction import IngestError

#: Files read at once, each in its own worker; more wait for one to be free.
WORKERS = max(1, min(4, os.cpu_count() or 1))
#: A worker idle this long exits.
WORKER_IDLE_S = 60.0
#: Files a worker reads before it is replaced (memory fragmented by big files is given back).
WORKER_MAX_FILES = 200
#: Test only: ``"module:function"`` called in the worker with the file's name before it is read (to
#: crash or stall a worker on purpose). The module must be importable from the parent's ``sys.path``.
WORKER_HOOK: str | None = None

# The worker imports only supercompat.ingest (not supercompat itself, whose openai import alone takes a
# second): the package is given as a bare module with its path. It gets the parent's sys.path.
BOOT = ("import json, sys, types; sys.path[:] = json.loads(sys.argv[1]); "
        "package = types.ModuleType('supercompat'); package.__path__ = [sys.argv[2]]; "
        "sys.modules['supercompat'] = package; "
        "from supercompat.ingest import _worker; _worker.main(float(sys.argv[3]))")
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUPPORTED = os.name == "posix"


async def extract_file(filename: str | None, path: str | os.PathLike[str], content_type: str | None) -> str:
    """:func:`extraction.extract` of the file at ``path``, in a worker process (see the module's doc)."""
    path = os.fspath(path)
    os.stat(path)  # a missing or unreadable path is the caller's OSError, as it was in a thread
    if not SUPPORTED:
        return await _read_in_thread(filename, path, content_type)
    return await _pool().extract(filename, path, content_type)


async def _read_in_thread(filename: str | None, path: str, content_type: str | None) -> str:
    from ..clients import call_in_thread

    def read() -> str:
        with open(path, "rb") as source:
            return extraction.extract_from(filename, source, content_type, extraction.TIMEOUT_S)

    return await call_in_thread(read)


class _Gone(Exception):
    """The worker had exited before it took the file (idle, or killed meanwhile): use another."""


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def readable(fd: int) -> None:
    """Until ``fd`` (non-blocking, a pipe from a worker) has something to read, or its end; on the
    running loop, without a thread (under gevent too)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, _settle, ready)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _above_stdio(fd: int) -> int:
    """``fd``, moved above 2 if it is one of them (a daemon may have closed its stdin or stdout):
    the worker's pipes are put there, and must not overwrite each other on the way."""
    if fd > 2:
        return fd
    import fcntl  # POSIX only, as the workers are

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(fd)
    return moved


class _Process:
    """A worker process, started with ``posix_spawn``: under gevent's monkey patching ``subprocess.Popen``
    is gevent's, bound to a hub, and Python's own can't run there. Its input and output are pipes."""

    def __init__(self, argv: list[str]) -> None:
        child_input, self.requests = map(_above_stdio, os.pipe())
        self.replies, child_output = map(_above_stdio, os.pipe())
        try:
            spawn = _loop.unpatched("os", "posix_spawn")  # gevent's would watch it from a hub
            self.pid = spawn(sys.executable, argv, os.environ, file_actions=[
                (os.POSIX_SPAWN_DUP2, child_input, 0), (os.POSIX_SPAWN_DUP2, child_output, 1)])
        except BaseException:
            os.close(self.requests)
            os.close(self.replies)
            raise
        finally:
            os.close(child_input)
            os.close(child_output)
        self.returncode: int | None = None
        self.pipes_open = True

    def poll(self) -> int | None:
        """Its exit code (-N: killed by signal N) once it has ended, else None; never blocks."""
        if self.returncode is None:
            try:
                pid, status = _loop.unpatched("os", "waitpid")(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by another (gevent's SIGCHLD watcher): how, unknown
                self.returncode = 1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:  # once reaped, its pid may be another process's
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close_pipes(self) -> None:
        if self.pipes_open:
            self.pipes_open = False
            os.close(self.requests)
            os.close(self.replies)


class _Worker:
    def __init__(self) -> None:
        self.process = _Process([sys.executable, "-c", BOOT, json.dumps(sys.path), _PACKAGE_DIR,
                                 repr(WORKER_IDLE_S)])
        self.requests = self.process.requests
        self.replies = self.process.replies
        os.set_blocking(self.replies, False)
        self.files = 0
        self.reusable = True
        self.pending = bytearray()
        self.eof = False

    # -- reading replies on the running loop, without blocking it ------------------------------------
    async def _fill(self) -> None:
        """Wait for more of the worker's output (or its end) and take all that has come."""
        while True:
            try:
                chunk = os.read(self.replies, 1 << 20)
            except BlockingIOError:
                pass
            else:
                if not chunk:
                    self.eof = True
                    return
                self.pending += chunk
                return
            await readable(self.replies)

    async def _line(self) -> dict[str, Any] | None:
        """The next reply's header; None if the worker has exited."""
        while b"\n" not in self.pending:
            if self.eof:
                return None
            await self._fill()
        end = self.pending.index(b"\n")
        header = json.loads(self.pending[:end])
        del self.pending[:end + 1]
        return header  # type: ignore[no-any-return]

    async def _exactly(self, size: int) -> bytearray:
        while len(self.pending) < size and not self.eof:
            await self._fill()
        if len(self.pending) < size:
            raise EOFError
        data, self.pending = self.pending, bytearray()  # the text is the last thing a reply holds
        return data

    # -- one file ---------------------------------------------------------------------------------------
    async def extract(self, request: bytes, timeout: float, memory: int) -> str:
        try:
            os.write(self.requests, request)  # a short line into an empty pipe: never blocks
        except OSError:  # BrokenPipeError: it has exited
            self.reusable = False
            raise _Gone from None
        started = await self._line()
        if started is None or started.get("bye"):
            self.reusable = False
            raise _Gone
        self.files += 1
        reply = await self._line()
        if reply is None:
            self.reusable = False
            raise await self._death(timeout)
        if "text" in reply:
            try:
                data = await self._exactly(int(reply["text"]))
            except EOFError:
                self.reusable = False
                raise await self._death(timeout) from None
            return data.decode("utf-8", "surrogatepass")
        kind = reply["error"]
        if kind == "ingest":
            raise IngestError(reply["code"], reply["message"])
        if kind == "memory":
            self.reusable = False
            raise IngestError.too_big(memory)
        if kind == "os":
            raise OSError(reply["errno"], reply["message"])
        raise RuntimeError(f"unexpected reply from an extraction worker: {reply!r}")

    async def _death(self, timeout: float) -> IngestError:
        """Why the worker died while it read a file, as the file's error."""
        for _ in range(100):  # its pipe closes a moment before it can be reaped
            if self.process.poll() is not None:
                break
            await asyncio.sleep(0.01)
        status = self.process.returncode
        if status == -signal.SIGXCPU:
            return IngestError.too_slow(timeout)
        if status is not None and status < 0:
            try:
                name = signal.Signals(-status).name
            except ValueError:
                name = f"signal {-status}"
            return IngestError.invalid(f"The file could not be read: its reader crashed ({name}).")
        return IngestError.invalid("The file could not be read: its reader stopped unexpectedly.")

    def kill(self) -> None:
        """Stop the worker now (its file is abandoned); reaped by the pool later."""
        self.reusable = False
        self.process.kill()
        self.close_pipes()

    def close_pipes(self) -> None:
        self.process.close_pipes()


class WorkerPool:
    """At most ``size`` workers reading at once; the others' callers wait, on their own loops."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = _loop.unpatched("_thread", "allocate_lock")()
        self._idle: list[_Worker] = []
        self._busy = 0
        self._waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = \
            collections.deque()
        self._dying: list[_Process] = []  # killed or retired, not yet reaped

    async def extract(self, filename: str | None, path: str, content_type: str | None) -> str:
        timeout, memory = float(extraction.TIMEOUT_S), int(extraction.MEMORY_BYTES)
        request = json.dumps({
            "filename": filename, "path": os.path.abspath(path), "content_type": content_type,
            "timeout": timeout, "memory": memory, "hook": WORKER_HOOK,
            "limits": {name: getattr(extraction, name) for name in
                       ("MAX_PDF_PAGES", "MAX_UNPACKED_BYTES", "MAX_UNPACKED_XML_BYTES")},
        }).encode() + b"\n"
        await self._acquire()
        try:
            for _ in range(3):
                worker = self._take_idle()
                if worker is None:
                    try:
                        worker = _Worker()
                    except OSError as exc:
                        raise IngestError("server_error", "The file could not be read: no worker process "
                                                          f"could be started ({exc.strerror or exc}).") from exc
                try:
                    async with asyncio.timeout(timeout):
                        return await worker.extract(request, timeout, memory)
                except _Gone:
                    continue  # exited before it took the file: a fresh one takes it
                except TimeoutError:
                    worker.kill()
                    raise IngestError.too_slow(timeout) from None
                except (IngestError, OSError):
                    raise  # the file's answer: the worker goes on, unless it said otherwise
                except BaseException:  # cancelled: the file is abandoned, and so is its worker
                    worker.kill()
                    raise
                finally:
                    self._give_back(worker)
            raise IngestError("server_error", "The file could not be read: the worker processes exit "
                                              "as they start (see the server's log).")
        finally:
            self._release()

    # -- slots: a file being read holds one ---------------------------------------------------------------
    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            self._reap()
            if self._busy < self.size:
                self._busy += 1
                return
            slot: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, slot))
        try:
            await slot
        except asyncio.CancelledError:
            with self._lock:
                try:
                    self._waiters.remove((loop, slot))
                    handed = False
                except ValueError:
                    handed = True
            if handed:  # handed over as we were cancelled: pass it on
                self._release()
            raise

    def _release(self) -> None:
        with self._lock:
            while self._waiters:
                loop, slot = self._waiters.popleft()
                try:
                    loop.call_soon_threadsafe(self._hand, slot)
                    return
                except RuntimeError:  # that caller's loop has closed
                    continue
            self._busy -= 1

    def _hand(self, slot: asyncio.Future[None]) -> None:  # on the waiter's loop
        if not slot.done():  # else cancelled meanwhile: its waiter passes the slot on (see _acquire)
            slot.set_result(None)

    # -- workers -----------------------------------------------------------------------------------------
    def _take_idle(self) -> _Worker | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if worker.reusable and worker.files < WORKER_MAX_FILES and worker.process.poll() is None:
                self._idle.append(worker)
                return
            worker.close_pipes()  # a worker whose input closes exits
            self._dying.append(worker.process)
            self._reap()

    def _reap(self) -> None:
        """Collect the exit of workers that have ended (non-blocking; the rest on a later call)."""
        self._dying = [process for process in self._dying if process.poll() is None]

    def close(self) -> None:
        """Stop the idle workers (busy ones finish their file first)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()
            with self._lock:
                self._dying.append(worker.process)
        deadline = time.monotonic() + 5
        while self._dying and time.monotonic() < deadline:
            with self._lock:
                self._reap()
            if self._dying:
                _loop.unpatched("time", "sleep")(0.01)

    def after_fork(self) -> None:
        # The workers are the parent's: a forked child keeps their pipes open (untouched) and starts
        # afresh, lest its reads and writes mix with the parent's.
        for worker in self._idle:
            worker.close_pipes()  # the parent's stay open: closing ours lets its workers see their end
        _loop.keep_inherited(self._idle, self._dying)
        self._lock = _loop.unpatched("_thread", "allocate_lock")()
        self._idle, self._dying, self._busy = [], [], 0
        self._waiters = collections.deque()


_the_pool: WorkerPool | None = None
_pool_lock = _loop.unpatched("_thread", "allocate_lock")()


def _pool() -> WorkerPool:
    global _the_pool
    with _pool_lock:
        if _the_pool is None:
            _the_pool = WorkerPool(WORKERS)
            _loop.renew_after_fork(_the_pool)
            atexit.register(close_workers)  # they would end with us anyway; this reaps them first
        return _the_pool


def close_workers() -> None:
    """Stop the idle extraction workers now, rather than when they have idled :data:`WORKER_IDLE_S`
    or the process exits (both of which end them anyway)."""
    if _the_pool is not None:
        _the_pool.close()


__all__ = ["WORKERS", "WORKER_HOOK", "WORKER_IDLE_S", "WORKER_MAX_FILES", "WorkerPool", "close_workers",
           "extract_file"]
