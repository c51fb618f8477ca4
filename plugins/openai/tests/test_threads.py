"""supercompat._threads: running a sync iterator (a sync SDK stream) for an async consumer."""

import asyncio
import itertools
import threading
from contextlib import aclosing

import pytest

from supercompat._threads import call_in_thread, iterate_in_thread


class Counter:
    """An endless iterator that records which thread drives it and whether it was closed."""

    def __init__(self, fail_at=None):
        self.fail_at = fail_at
        self.count = itertools.count()
        self.calls = 0
        self.threads = set()
        self.closed = threading.Event()

    def __iter__(self):
        return self

    def __next__(self):
        self.threads.add(threading.get_ident())
        self.calls += 1
        n = next(self.count)
        if n == self.fail_at:
            raise ValueError(f"failed at {n}")
        return n

    def close(self):
        self.closed.set()


async def test_yields_items_from_a_worker_thread():
    counter = Counter()
    seen = []
    async with aclosing(iterate_in_thread(lambda: counter)) as items:
        async for n in items:
            seen.append(n)
            if n == 4:
                break
    assert seen == [0, 1, 2, 3, 4]
    assert threading.get_ident() not in counter.threads


async def test_a_finite_iterator_ends_and_is_closed():
    counter = Counter()
    assert [n async for n in iterate_in_thread(lambda: itertools.islice(counter, 3))] == [0, 1, 2]


async def test_exceptions_from_the_thread_are_raised_in_the_consumer():
    counter = Counter(fail_at=2)
    seen = []
    with pytest.raises(ValueError, match="failed at 2"):
        async for n in iterate_in_thread(lambda: counter):
            seen.append(n)
    assert seen == [0, 1]
    assert counter.closed.wait(5)


async def test_exceptions_from_make_iterator_are_raised_in_the_consumer():
    def make():
        raise ConnectionError("no provider")

    with pytest.raises(ConnectionError, match="no provider"):
        async for _ in iterate_in_thread(make):
            pass


async def test_aclose_closes_the_iterator():
    counter = Counter()
    items = iterate_in_thread(lambda: counter)
    assert await anext(items) == 0
    await items.aclose()
    assert counter.closed.wait(5)


async def test_cancelling_the_consumer_closes_the_iterator():
    counter = Counter()
    started = asyncio.Event()

    async def consume():
        async with aclosing(iterate_in_thread(lambda: counter)) as items:
            async for _ in items:
                started.set()
                await asyncio.sleep(3600)

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert counter.closed.wait(5)


async def test_cancelled_while_the_worker_is_blocked_closes_once_it_returns():
    release = threading.Event()
    counter = Counter()

    def slow():
        release.wait(5)  # like a provider that has not sent its next chunk yet
        return counter

    task = asyncio.create_task(anext(iterate_in_thread(slow)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    assert counter.closed.wait(5)
    assert counter.calls == 0  # stopped before reading anything


async def test_the_worker_reads_at_most_buffer_items_ahead():
    counter = Counter()
    async with aclosing(iterate_in_thread(lambda: counter, buffer=4)) as items:
        await anext(items)
        await asyncio.sleep(0.05)  # give the worker every chance to run ahead
        assert counter.calls <= 5
    assert counter.closed.wait(5)


async def test_call_in_thread():
    def where(a, *, b):
        return a + b, threading.get_ident()

    value, ident = await call_in_thread(where, 1, b=2)
    assert value == 3 and ident != threading.get_ident()
