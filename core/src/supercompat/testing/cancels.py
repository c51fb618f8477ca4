"""Cancels racing runs, for tests of any storage: a slow model, a storage that shows whether a cancel
ever interrupted one of its calls, and a storm of create/cancel pairs with what must hold after it."""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..loop import run_sync
from ..runs.engine import TERMINAL
from .scripted import Reply, scripted_client_adapter


class PacedModel:
    """The scripted model answering ``words`` words (or ``text``), ``delay`` seconds apart, after
    ``start_after`` seconds of silence (a whole answer takes as long), so that cancels land before,
    during and after its turn, and polls see a run still in progress."""

    def __init__(self, words: int = 10, delay: float = 0.005, *, text: str | None = None,
                 start_after: float = 0.0) -> None:
        self.text = text if text is not None else " ".join(f"w{i}" for i in range(words))
        self.words = words if text is None else len(text.split())
        self.delay, self.start_after = delay, start_after
        self.scripted = scripted_client_adapter()

    async def chat_completions(self, params: dict[str, Any]) -> dict[str, Any]:
        self.scripted.script(Reply(text=self.text))
        await asyncio.sleep(self.start_after + self.words * self.delay)
        return await self.scripted.chat_completions(params)

    async def chat_completions_stream(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        self.scripted.script(Reply(text=self.text))
        await asyncio.sleep(self.start_after)
        async for chunk in self.scripted.chat_completions_stream(params):
            await asyncio.sleep(self.delay)
            yield chunk

    async def list_models(self) -> list[dict[str, Any]]:
        return []


_WRITES = ("create_", "update_", "delete_", "renew_leases")


class WatchedWrites:
    """A storage adapter passing every call on to ``inner``, each write (and a read named by
    ``pause_on``) after a ``pause``: a window for a cancel to land in. ``interrupted`` names the
    calls a cancel reached (and broke off, unless ``whole``); ``writing`` is set while one named ``pause_on`` (e.g.
    ``"create_message"``) is pending. With ``whole``, a cancelled call still runs to its end before
    the cancel is passed on, as the SQLAlchemy adapter's calls do."""

    def __init__(self, inner: Any, pause: float = 0.0, pause_on: str | None = None, whole: bool = False) -> None:
        self.inner, self.pause, self.pause_on, self.whole = inner, pause, pause_on, whole
        self.interrupted: list[str] = []
        self.writing = threading.Event()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not (name.startswith(_WRITES) or name == self.pause_on):
            return method

        async def paced(watched: bool, *args: Any, **kwargs: Any) -> Any:
            if watched:
                await asyncio.sleep(self.pause)
            return await method(*args, **kwargs)

        async def write(*args: Any, **kwargs: Any) -> Any:
            watched = self.pause_on in (None, name)
            try:
                if watched:
                    self.writing.set()
                if not self.whole:
                    return await paced(watched, *args, **kwargs)
                call = asyncio.ensure_future(paced(watched, *args, **kwargs))
                return await asyncio.shield(call)
            except asyncio.CancelledError:
                self.interrupted.append(name)
                if self.whole:
                    await asyncio.wait((call,), timeout=30)
                raise
            finally:
                if watched:
                    self.writing.clear()

        return write


@dataclass
class StormReport:
    runs: list[tuple[str, str]] = field(default_factory=list)  # (thread id, run id)
    probe_seconds: list[float] = field(default_factory=list)
    probe_errors: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def cancel_storm(client: Any, assistant_id: str, *, pairs: int, concurrency: int, seed: int = 0) -> StormReport:
    """``pairs`` runs, each cancelled 0-50 ms after it was created, ``concurrency`` at a time (each on
    a thread of its own); meanwhile a probe creates a thread every 50 ms and times it."""
    report = StormReport()
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            try:
                client.beta.threads.create()
            except Exception as exc:
                report.probe_errors.append(f"{type(exc).__name__}: {exc}")
            report.probe_seconds.append(time.perf_counter() - t0)
            done.wait(0.05)

    def pair(index: int) -> None:
        rng = random.Random(seed * 100_000 + index)
        try:
            thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
            run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant_id,
                                                  stream=False)
            report.runs.append((thread.id, run.id))
            time.sleep(rng.random() * 0.05)
            client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
        except Exception as exc:
            if "Cannot cancel run with status" not in str(exc):  # it had ended already: fine
                report.errors.append(f"{type(exc).__name__}: {exc}")

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(pair, range(pairs)))
    finally:
        done.set()
        prober.join(timeout=30)
    return report


def not_ended(client: Any, runs: list[tuple[str, str]], timeout: float = 30.0) -> list[tuple[str, str]]:
    """The runs still not terminal after waiting up to ``timeout`` seconds in all."""
    deadline = time.monotonic() + timeout
    pending = list(runs)
    while pending and time.monotonic() < deadline:
        pending = [(t, r) for t, r in pending
                   if client.beta.threads.runs.retrieve(r, thread_id=t).status not in TERMINAL]
        if pending:
            time.sleep(0.05)
    return pending


def dangling_steps(client: Any, runs: list[tuple[str, str]]) -> list[str]:
    """``message_creation`` steps whose message is missing or still in progress, as readable lines."""
    found = []
    for thread_id, run_id in runs:
        for step in client.beta.threads.runs.steps.list(run_id, thread_id=thread_id, limit=100).data:
            if step.type != "message_creation":
                continue
            message_id = step.step_details.message_creation.message_id
            try:
                message = client.beta.threads.messages.retrieve(message_id, thread_id=thread_id)
            except Exception as exc:
                found.append(f"{run_id}: step {step.id} ({step.status}) names {message_id}: {type(exc).__name__}")
                continue
            if message.status == "in_progress":
                found.append(f"{run_id}: step {step.id} ({step.status}): message {message_id} still in progress")
    return found


def assert_storm_ended_cleanly(client: Any, report: StormReport, pairs: int) -> None:
    """What must hold after ``cancel_storm``: no request failed, every run was created and ended,
    no step names a missing message, and the probe was never kept waiting for long."""
    assert report.errors == [] and report.probe_errors == []
    assert len(report.runs) == pairs
    assert not_ended(client, report.runs) == []
    assert dangling_steps(client, report.runs) == []
    # Generous: a probe is answered in milliseconds; this catches a storage stuck for good, not speed.
    assert max(report.probe_seconds) < 5
    print(f"probe p50 {statistics.median(report.probe_seconds) * 1000:.1f} ms, "
          f"max {max(report.probe_seconds) * 1000:.1f} ms over {len(report.probe_seconds)} probes")


def start_run_paused(client: Any, store: WatchedWrites, assistant_id: str | None = None) -> tuple[str, str]:
    """Start a run on ``client`` and return (thread id, run id) once ``store`` is paused in the call it
    watches (``pause_on``): the moment a cancel or a shutdown is to land in."""
    if assistant_id is None:
        assistant_id = client.beta.assistants.create(model="m").id
    t = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create(thread_id=t.id, assistant_id=assistant_id)
    assert store.writing.wait(5), f"the run never reached {store.pause_on}"
    return t.id, run.id


def assert_cancel_waits_for_the_paused_call(client: Any, store: WatchedWrites,
                                            assistant_id: str | None = None) -> tuple[str, str]:
    """A cancel landing while ``store`` is paused in a call of the run: the call is not broken off, and
    the run ends ``cancelled``. Returns (thread id, run id)."""
    thread_id, run_id = start_run_paused(client, store, assistant_id)
    client.beta.threads.runs.cancel(run_id, thread_id=thread_id)
    assert not_ended(client, [(thread_id, run_id)], timeout=10) == []
    assert client.beta.threads.runs.retrieve(run_id, thread_id=thread_id).status == "cancelled"
    assert store.interrupted == []
    return thread_id, run_id


def assert_shutdown_unwinds_the_paused_run(client: Any, store: WatchedWrites, engine: Any) -> None:
    """``engine.shutdown(grace=0)`` while ``store`` (``whole=True``) is paused writing the run's message:
    the run ends ``failed`` only once the write is done, and its message is closed, not left in progress."""
    thread_id, run_id = start_run_paused(client, store)
    run_sync(engine.shutdown(grace=0))
    deadline = time.monotonic() + 10
    while store.writing.is_set():
        assert time.monotonic() < deadline, "the message write never ended"
        time.sleep(0.05)
    assert client.beta.threads.runs.retrieve(run_id, thread_id=thread_id).status == "failed"
    [message] = client.beta.threads.messages.list(thread_id, run_id=run_id).data
    assert message.status == "incomplete"
