"""The one event loop the engine and every storage/client adapter run on.

It lives in a daemon thread for the whole process, so storage connection pools, background runs
and provider clients are bound to one loop, whatever loops (or none) the caller uses.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def core_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None:
        with _lock:
            if _loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=run, name="supercompat-loop", daemon=True).start()
                ready.wait()
                _loop = loop
    return _loop


# -- fork ---------------------------------------------------------------------------------------
# A forked child has only the thread that forked: no loop thread, no worker threads. Everything bound
# to the parent's loop (tasks, futures, locks) or shared with it (pooled sockets, database files) is
# the parent's, which goes on using it. So the child starts afresh: a new loop on first use, and every
# object registered here drops what it inherited, in ``after_fork()``, before the child runs anything.
_renewed_in_child: "weakref.WeakSet[Any]" = weakref.WeakSet()
# What a child inherited and must neither use nor close (closing a pooled connection can talk on the
# parent's socket, or end its session): kept referenced so that no finalizer ever runs on it here.
_inherited: list[Any] = []


def renew_after_fork(obj: Any) -> None:
    """Call ``obj.after_fork()`` in every child process forked from now on, right after the fork (for as
    long as ``obj`` lives). It must only drop state, not do I/O: the child has no other thread yet."""
    _renewed_in_child.add(obj)


def keep_inherited(*objs: Any) -> None:
    """In a forked child: keep ``objs`` (the parent's connections, tasks, ...) alive, untouched."""
    _inherited.extend(objs)


def _after_fork_in_child() -> None:
    global _loop, _lock, _running
    if _loop is not None:
        _inherited.extend((_loop, _running))
    _loop, _lock, _running = None, threading.Lock(), set()
    for obj in list(_renewed_in_child):
        try:
            obj.after_fork()
        except Exception:  # one object's failure must not leave the others holding the parent's state
            logging.getLogger("supercompat").exception("supercompat: %r could not start afresh after fork", obj)


os.register_at_fork(after_in_child=_after_fork_in_child)


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
    _hold(task)
    return task


def _hold(task: asyncio.Task[Any]) -> None:
    """Keep ``task`` referenced while it runs, whether or not its caller still waits for it."""
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
    finished = threading.Lock()
    finished.acquire()
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
        _hold(task)
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
