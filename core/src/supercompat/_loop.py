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
    """Run on the core loop and wait; for sync callers."""
    loop = core_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError("run_sync() called from the supercompat loop itself; await the coroutine instead")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


async def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on the core loop from any other loop."""
    loop = core_loop()
    if asyncio.get_running_loop() is loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))
