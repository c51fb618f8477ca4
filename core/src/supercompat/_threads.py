"""Running a sync provider SDK from async code: for plugins handed a sync client.

The engine is async; a sync SDK call would block its event loop, so it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from . import loop as _loop

T = TypeVar("T")

_ITEM, _END, _ERROR = range(3)


class _DaemonThreads:
    """Reusable daemon threads for streams. Not the default executor: a long stream holds its worker
    for its whole duration, and a few dozen would starve every other to_thread(). Not a new thread per
    stream: starting one costs about a millisecond under the GIL. Not a ThreadPoolExecutor: its threads
    are joined at exit, so one blocked provider read would hold the process open."""

    def __init__(self) -> None:
        self._idle: queue.SimpleQueue[queue.SimpleQueue[Callable[[], None]]] = _os_queue()

    def submit(self, fn: Callable[[], None]) -> None:
        try:
            inbox = self._idle.get_nowait()
        except queue.Empty:
            inbox = _os_queue()
            _loop.start_os_thread(lambda: self._work(inbox), "supercompat-stream")
        inbox.put(fn)

    def _work(self, inbox: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            inbox.get()()
            self._idle.put(inbox)

    def after_fork(self) -> None:
        # The idle inboxes belong to threads that a forked child doesn't have.
        _loop.keep_inherited(self._idle)
        self._idle = _os_queue()


def _os_queue() -> Any:
    """A queue that blocks the OS thread that waits on it: Python's, even under gevent (see _loop)."""
    return _loop.unpatched("queue", "SimpleQueue")()


_stream_threads = _DaemonThreads()
_loop.renew_after_fork(_stream_threads)


async def call_in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a worker thread. Cancelling the await does not stop ``fn``."""
    if not _loop.gevent_patched():
        return await asyncio.to_thread(fn, *args, **kwargs)
    # Under gevent, the default executor's "threads" are greenlets of the core loop's thread, which
    # never yields to a gevent hub: they would never run. The stream threads are OS threads.
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(outcome: tuple[bool, Any]) -> None:
        if not done.done():
            ok, value = outcome
            done.set_result(value) if ok else done.set_exception(value)

    def work() -> None:
        try:
            outcome: tuple[bool, Any] = (True, context.run(fn, *args, **kwargs))
        except BaseException as exc:
            outcome = (False, exc)
        try:
            loop.call_soon_threadsafe(settle, outcome)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    _stream_threads.submit(work)
    return await done


def _close(iterator: Any) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # cleanup only: there is nobody left to report a failure to
            pass


async def iterate_in_thread(make_iterator: Callable[[], Iterator[T]], *,
                            buffer: int = 64) -> AsyncIterator[T]:
    """Iterate ``make_iterator()`` in a worker thread, yielding its items here as they arrive.

    ``make_iterator`` itself runs in the thread too (for an SDK stream, that is where the HTTP request
    is sent). An exception raised in the thread is re-raised here. If the consumer stops early
    (``aclose()``, cancellation, an exception), the worker stops and calls the iterator's
    ``close()`` (an SDK stream closes its HTTP response). The worker alone touches the iterator, so
    that happens as soon as it is free: at once if it is waiting for the consumer, else when its
    current ``next()`` (or ``make_iterator()``) returns, since a read blocked in another thread
    cannot be interrupted safely. At most ``buffer`` items are read ahead of the consumer.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
    slots = _os_queue()  # backpressure (a token per item the worker may read ahead): it never runs far ahead
    for _ in range(buffer):
        slots.put(None)
    stop = threading.Event()

    def send(kind: int, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the consumer's loop is closed: nobody is listening any more
            stop.set()

    def pump() -> None:
        iterator = None
        try:
            iterator = make_iterator()
            items = iter(iterator)
            while True:
                slots.get()
                if stop.is_set():
                    return
                try:
                    item = next(items)
                except StopIteration:
                    send(_END, None)
                    return
                send(_ITEM, item)
        except BaseException as exc:  # handed to the consumer, never left to die in the thread
            if not stop.is_set():
                send(_ERROR, exc)
        finally:
            if iterator is not None:
                _close(iterator)

    _stream_threads.submit(pump)
    try:
        while True:
            kind, value = await queue.get()
            if kind == _ITEM:
                slots.put(None)
                yield value
            elif kind == _END:
                return
            else:
                raise value
    finally:
        stop.set()
        slots.put(None)  # wake the worker if it is waiting for a free slot
