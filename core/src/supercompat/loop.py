"""The core loop: the one event loop the engine and every storage/client adapter run on in process.

It lives in a daemon thread for the whole process, so storage connection pools, background runs
and provider clients are bound to one loop, whatever loops (or none) the caller uses. The HTTP
server doesn't use it: there the server's own loop plays its part (see docs/architecture.md).

Public names (also importable as ``supercompat._loop``, the former name):

- ``run_sync(coro, timeout=None)`` / ``await run_async(coro, timeout=None)``: run ``coro`` on the core
  loop from a sync caller / from another loop (tests and tools that call an adapter directly);
  ``Unanswered`` is raised when ``timeout`` passes first.
- ``core_loop()``: the loop itself, started on first use.
- ``renew_after_fork(obj)``, ``keep_inherited(*objs)``: fork safety for objects that hold loop-bound
  state or connections; ``hold_while_running(task)`` keeps a background task referenced.
- ``await finish(awaitable)``: run something to its end even if the caller is cancelled meanwhile
  (a statement on a pooled connection, a read or write on a file in a worker thread).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import logging
import os
import queue
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def core_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None:
        with _lock:
            if _loop is None:
                loop: asyncio.AbstractEventLoop
                if gevent_patched():  # a selector that blocks the loop's OS thread (see below)
                    loop = asyncio.SelectorEventLoop(unpatched("selectors", "DefaultSelector")())
                else:
                    loop = asyncio.new_event_loop()
                ready = one_shot()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.release)
                    loop.run_forever()

                start_os_thread(run, "supercompat-loop")
                ready.acquire()
                _loop = loop
    return _loop


# -- gevent -------------------------------------------------------------------------------------
# gevent's monkey patching makes threads greenlets: a "thread" for the core loop would run in the
# caller's own OS thread, and the loop's selector would block it, every greenlet with it. So the core
# loop and the worker threads (see _threads) are OS threads, on Python's own primitives, and a greenlet
# waiting for them waits on its gevent hub, so that the other greenlets run meanwhile.

def _gevent_monkey() -> Any:
    monkey = sys.modules.get("gevent.monkey")
    return monkey if monkey is not None and monkey.is_module_patched("threading") else None


def gevent_patched() -> bool:
    """Whether gevent's monkey patching has made threads greenlets."""
    return _gevent_monkey() is not None


def unpatched(module: str, name: str) -> Any:
    """``module.name`` as Python defines it, even under gevent's monkey patching."""
    monkey = _gevent_monkey()
    if monkey is not None:
        return monkey.get_original(module, name)
    return getattr(importlib.import_module(module), name)


def start_os_thread(target: Callable[[], None], name: str) -> None:
    """``target()`` in a new daemon OS thread (under gevent too, where a Thread would be a greenlet)."""
    if _gevent_monkey() is not None:
        unpatched("_thread", "start_new_thread")(target, ())
    else:
        threading.Thread(target=target, name=name, daemon=True).start()


class _HubSignal:
    """Under gevent: a one-shot signal from any OS thread, awaited on the waiting greenlet's hub."""

    def __init__(self) -> None:
        from gevent import get_hub
        from gevent.event import Event

        self._event = Event()
        self._sent = False
        self._watcher = get_hub().loop.async_()  # wakes the hub from another thread; keeps it waiting
        self._watcher.start(self._fired)

    def _fired(self) -> None:  # on the hub
        self._watcher.close()
        self._event.set()

    def release(self) -> None:  # from any thread, once (more calls are no-ops)
        if not self._sent:
            self._sent = True
            self._watcher.send()

    def acquire(self, timeout: float = -1) -> bool:
        return self._event.wait(None if timeout < 0 else timeout)


def one_shot() -> Any:
    """A signal released once, from any thread, and waited for with ``acquire(timeout=-1) -> bool``:
    a held lock, or under gevent a wait that lets the other greenlets run."""
    if _gevent_monkey() is not None:
        return _HubSignal()
    lock = threading.Lock()
    lock.acquire()
    return lock


class _HubQueue:
    """Under gevent: ``queue.SimpleQueue``'s put (from any thread) and get, the gets waiting on the hub."""

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._waiter: _HubSignal | None = None

    def put(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None:
            waiter.release()

    def get(self, timeout: float | None = None) -> Any:
        while not self._items:
            waiter = self._waiter = _HubSignal()
            # Unless an item came meanwhile, wait for the next.
            if not self._items and not waiter.acquire(-1 if timeout is None else timeout):
                raise queue.Empty
        self._waiter = None
        return self._items.popleft()


def caller_queue() -> Any:
    """A queue from the core loop to a sync caller (``put``, ``get(timeout=None)``)."""
    return _HubQueue() if _gevent_monkey() is not None else queue.SimpleQueue()


# -- fork ---------------------------------------------------------------------------------------
# A forked child has only the thread that forked: no loop thread, no worker threads. Everything bound
# to the parent's loop (tasks, futures, locks) or shared with it (pooled sockets, database files) is
# the parent's, which goes on using it. So the child starts afresh: a new loop on first use, and every
# object registered here drops what it inherited, in ``after_fork()``, before the child runs anything.
_renewed_in_child: weakref.WeakSet[Any] = weakref.WeakSet()
# What a child inherited and must neither use nor close (closing a pooled connection can talk on the
# parent's socket, or end its session): kept referenced so that no finalizer ever runs on it here.
_inherited: list[Any] = []


def renew_after_fork(obj: Any) -> None:
    """Call ``obj.after_fork()`` in every child process forked from now on, right after the fork (for as
    long as ``obj`` lives). It must only drop state, not do I/O: the child has no other thread yet. If
    ``obj`` also has ``ready_to_fork()`` (called on the core loop), a fork waits, briefly, until it is
    true."""
    _renewed_in_child.add(obj)


async def finish(awaitable: Awaitable[T]) -> T:
    """``await awaitable``, run to its end even if the caller is cancelled meanwhile; the cancel is
    then passed on. For work that must not be cut off half-way: a statement on a pooled connection
    (cut off, it can leave the connection holding a lock), or a blocking call in a worker thread
    (which goes on regardless, so what it uses must not be closed under it)."""
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            try:
                await asyncio.wait((task,))
            except asyncio.CancelledError:
                pass  # cancelled again: still let it finish
        if not task.cancelled():
            task.exception()  # retrieved: the caller has gone, and the cancel is what it gets
        raise


def keep_inherited(*objs: Any) -> None:
    """In a forked child: keep ``objs`` (the parent's connections, tasks, ...) alive, untouched."""
    _inherited.extend(objs)


# Threads of the parent may be half-way through something at the moment of the fork, and the child
# inherits their locks as they were: SQLite's, taken by a driver thread in the middle of a statement,
# would stay taken in the child for ever (its next connection to the same file hangs). So a fork waits
# (briefly, at most FORK_SETTLE_S) for a moment when the registered objects say nothing is in flight
# (``ready_to_fork()``), and holds the core loop there, so that nothing new starts, until it is done.
FORK_SETTLE_S = 1.0
_held_for_fork: Any = None  # the lock that holds the core loop while this process forks


def _before_fork() -> None:
    global _held_for_fork
    loop = _loop
    if loop is None or loop.is_closed() or _running_loop() is loop:
        return
    allocate_lock = unpatched("_thread", "allocate_lock")
    paused, resume = allocate_lock(), allocate_lock()
    paused.acquire()
    resume.acquire()

    async def pause() -> None:
        deadline = time.monotonic() + FORK_SETTLE_S
        while time.monotonic() < deadline and not _ready_to_fork():
            await asyncio.sleep(0.001)
        paused.release()
        resume.acquire(timeout=FORK_SETTLE_S * 10)  # blocks the loop: nothing new starts before the fork

    try:
        loop.call_soon_threadsafe(lambda: hold_while_running(loop.create_task(pause())))
    except RuntimeError:  # the loop is closed
        return
    if paused.acquire(timeout=FORK_SETTLE_S * 2):
        _held_for_fork = resume
    else:
        resume.release()  # too late: never hold the loop for a fork that has gone ahead


def _ready_to_fork() -> bool:
    for obj in list(_renewed_in_child):
        ready = getattr(obj, "ready_to_fork", None)
        if ready is not None and not ready():
            return False
    return True


def _after_fork_in_parent() -> None:
    global _held_for_fork
    if _held_for_fork is not None:
        _held_for_fork.release()
        _held_for_fork = None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _after_fork_in_child() -> None:
    global _loop, _lock, _running, _held_for_fork
    if _loop is not None:
        _inherited.extend((_loop, _running))
    _loop, _lock, _running, _held_for_fork = None, threading.Lock(), set(), None
    for obj in list(_renewed_in_child):
        try:
            obj.after_fork()
        except Exception:  # one object's failure must not leave the others holding the parent's state
            logging.getLogger("supercompat").exception("supercompat: %r could not start afresh after fork", obj)


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)


class Unanswered(TimeoutError):
    """The caller stopped waiting (its timeout); the coroutine goes on, unwatched."""


Outcome = tuple[str, Any]  # ("ok", result) | ("error", exception) | ("cancelled", None)
_running: set[asyncio.Task[Any]] = set()


def _start(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any],
           report: Callable[[Outcome], None]) -> asyncio.Task[Any] | None:
    """On the core loop: run ``coro`` and report how it ended (also if it could not start)."""
    try:
        task = loop.create_task(coro)
    except BaseException as exc:
        report(("error", exc))
        return None
    task.add_done_callback(lambda t: report(_outcome(t)))
    hold_while_running(task)
    return task


def hold_while_running(task: asyncio.Task[Any]) -> None:
    """Keep ``task`` referenced while it runs, whether or not anyone still waits for it (a loop holds
    its tasks only weakly: an unreferenced one could be collected half-way)."""
    _running.add(task)
    task.add_done_callback(_running.discard)


def _outcome(task: asyncio.Task[Any]) -> Outcome:
    if task.cancelled():
        return ("cancelled", None)
    exc = task.exception()  # retrieved here: nothing is logged if the caller has stopped waiting
    return ("error", exc) if exc is not None else ("ok", task.result())


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run on the core loop and wait; for sync callers. A plain lock to wait on, not
    ``run_coroutine_threadsafe``'s future and condition: every in-process API call crosses here.
    After ``timeout`` seconds, raise Unanswered and leave the coroutine to finish unwatched."""
    loop = core_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError("run_sync() called from the supercompat loop itself; await the coroutine instead")
    finished = one_shot()
    outcome: list[Outcome] = []
    tasks: list[asyncio.Task[Any] | None] = []  # a reference to the task while it runs

    def report(ended: Outcome) -> None:
        outcome.append(ended)
        finished.release()

    loop.call_soon_threadsafe(lambda: tasks.append(_start(loop, coro, report)))
    if not finished.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
        raise Unanswered(f"no answer in {timeout:g} s")
    kind, value = outcome[0]
    if kind == "ok":
        return value
    if kind == "cancelled":
        raise concurrent.futures.CancelledError()  # an Exception, as run_coroutine_threadsafe raised
    raise value


async def run_async(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run on the core loop from any other loop; cancelling the caller cancels the run there. After
    ``timeout`` seconds, raise Unanswered and leave the coroutine to finish unwatched."""
    loop = core_loop()
    caller = asyncio.get_running_loop()
    if caller is loop:
        if timeout is None:
            return await coro
        task = loop.create_task(coro)
        hold_while_running(task)
        task.add_done_callback(_outcome)  # its end is read even if nobody waits for it any more
        try:
            return await _within(timeout, asyncio.shield(task))
        except asyncio.CancelledError:
            task.cancel()
            raise
    result: asyncio.Future[T] = caller.create_future()
    tasks: list[asyncio.Task[Any] | None] = []

    def settle(ended: Outcome) -> None:  # on the caller's loop
        kind, value = ended
        if result.done():
            return
        if kind == "ok":
            result.set_result(value)
        elif kind == "cancelled":
            result.cancel()
        else:
            result.set_exception(value)

    def cancel() -> None:  # on the core loop, after the start: both were queued there in this order
        if tasks and tasks[0] is not None:
            tasks[0].cancel()  # a no-op if the run has finished

    loop.call_soon_threadsafe(lambda: tasks.append(_start(loop, coro, lambda ended: _call_soon(caller, settle, ended))))
    try:
        return await _within(timeout, result)  # on expiry, Unanswered: the run goes on
    except asyncio.CancelledError:
        _call_soon(loop, cancel)
        raise


async def _within(timeout: float | None, awaitable: Any) -> Any:
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            return await awaitable
    except TimeoutError:
        if scope.expired():
            raise Unanswered(f"no answer in {timeout:g} s") from None
        raise


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Any, *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # the caller's loop has closed: nobody is waiting any more
        pass


__all__ = ["Unanswered", "core_loop", "finish", "hold_while_running", "keep_inherited", "renew_after_fork",
           "run_async", "run_sync"]
