"""supercompat.clients.on_core_loop: adapters can tell supercompat's own loop from any other."""

import asyncio

from supercompat import loop
from supercompat.clients import on_core_loop


async def _where() -> bool:
    return on_core_loop()


def test_true_on_the_core_loop_only():
    assert loop.run_sync(_where()) is True
    assert asyncio.run(_where()) is False
    assert on_core_loop() is False  # no loop at all


async def _fail() -> None:
    raise ValueError("from the core loop")


def test_run_sync_returns_and_raises_what_the_core_loop_did():
    assert loop.run_sync(_where()) is True
    try:
        loop.run_sync(_fail())
    except ValueError as exc:
        assert str(exc) == "from the core loop"
    else:
        raise AssertionError("no error")


def test_run_async_returns_raises_and_passes_cancellation_on():
    async def main() -> None:
        assert await loop.run_async(_where()) is True
        try:
            await loop.run_async(_fail())
        except ValueError as exc:
            assert str(exc) == "from the core loop"
        else:
            raise AssertionError("no error")

        started, stopped = asyncio.Event(), []
        caller = asyncio.get_running_loop()

        async def forever() -> None:
            caller.call_soon_threadsafe(started.set)
            try:
                await asyncio.sleep(3600)
            finally:
                stopped.append(on_core_loop())

        waiting = asyncio.ensure_future(loop.run_async(forever()))
        await started.wait()
        waiting.cancel()
        try:
            await waiting
        except asyncio.CancelledError:
            pass
        for _ in range(200):
            if stopped:
                break
            await asyncio.sleep(0.005)
        assert stopped == [True]  # the coroutine on the core loop was cancelled, there

    asyncio.run(main())


def test_what_cannot_start_on_the_core_loop_raises_instead_of_hanging():
    import pytest

    with pytest.raises(TypeError):
        loop.run_sync(42)  # type: ignore[arg-type]

    async def main() -> None:
        with pytest.raises(TypeError):
            await loop.run_async(42)  # type: ignore[arg-type]

    asyncio.run(main())


def test_a_run_cancelled_on_the_core_loop_is_an_exception_to_sync_callers():
    import concurrent.futures

    import pytest

    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(concurrent.futures.CancelledError):  # an Exception, not a BaseException
        loop.run_sync(cancelled())


def test_the_former_name_supercompat_loop_had_is_the_same_module():
    import supercompat._loop as former

    assert former is loop  # a patch made through either name is seen through the other
    assert former.run_sync is loop.run_sync


async def test_finish_runs_its_work_to_the_end_and_then_passes_the_cancel_on():
    steps = []
    release = asyncio.Event()

    async def work():
        steps.append("started")
        await release.wait()
        steps.append("ended")
        return "done"

    caller = asyncio.ensure_future(loop.finish(work()))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.sleep(0)
    caller.cancel()  # twice: still waits
    await asyncio.sleep(0)
    assert steps == ["started"] and not caller.done()
    release.set()
    try:
        await caller
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the cancel was swallowed")
    assert steps == ["started", "ended"]
    assert await loop.finish(work()) == "done"
