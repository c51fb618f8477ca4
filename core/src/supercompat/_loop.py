"""The one event loop the engine and every storage/client adapter run on.

It lives in a daemon thread for the whole process, so storage connection pools, background runs
and provider clients are bound to one loop, whatever loops (or none) the caller uses.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
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


def _forget_loop_after_fork() -> None:
    # A forked child has no loop thread: it starts its own on first use.
    global _loop, _lock
    _loop, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_loop_after_fork)


def submit(coro: Coroutine[Any, Any, T]) -> Future[T]:
    return asyncio.run_coroutine_threadsafe(coro, core_loop())


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run on the core loop and wait; for sync callers. A plain lock to wait on, not
    ``run_coroutine_threadsafe``'s future and condition: every in-process API call crosses here."""
    loop = core_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError("run_sync() called from the supercompat loop itself; await the coroutine instead")
    finished = threading.Lock()
    finished.acquire()
    done: list[asyncio.Task[T]] = []

    def start() -> None:
        task = loop.create_task(coro)
        task.add_done_callback(lambda t: (done.append(t), finished.release()))

    loop.call_soon_threadsafe(start)
    finished.acquire()
    return done[0].result()


async def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on the core loop from any other loop; cancelling the caller cancels the run there."""
    loop = core_loop()
    caller = asyncio.get_running_loop()
    if caller is loop:
        return await coro
    result: asyncio.Future[T] = caller.create_future()
    started: list[asyncio.Task[T]] = []

    def settle(task: asyncio.Task[T]) -> None:  # on the caller's loop
        if result.done():
            return
        if task.cancelled():
            result.cancel()
        elif (exc := task.exception()) is not None:
            result.set_exception(exc)
        else:
            result.set_result(task.result())

    def start() -> None:  # on the core loop
        task = loop.create_task(coro)
        started.append(task)
        task.add_done_callback(lambda t: _call_soon(caller, settle, t))

    def cancel() -> None:  # on the core loop, after start(): both were queued there in this order
        started[0].cancel()  # a no-op if the run has finished

    loop.call_soon_threadsafe(start)
    try:
        return await result
    except asyncio.CancelledError:
        _call_soon(loop, cancel)
        raise


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Any, *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # the caller's loop has closed: nobody is waiting any more
        pass
