"""The benchmark workloads of shared/reference/bench-workloads.md, ported with the same JSON keys:
crud, runs_poll, stream_ttft, concurrent, long_thread, tool_roundtrip, RSS, plus ``floor`` (the SDK
answering canned bytes, see floor.py), against a loopback fake OpenAI provider in its own process.

    python bench/workloads.py [--workloads crud,...] [--client sync|async]
                              [--storage memory|sqlite|postgresql] [--scale 1.0] [--token-delay-ms 0]
                              [--out round.json]

Prints one round object. ``run_all.py`` runs several rounds and writes docs/performance.md. The
workloads are written once for both clients: ``call()`` awaits what the async client returns and
passes the sync client's results through, so a sync round times plain blocking calls.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import openai

from supercompat import async_supercompat, supercompat
from supercompat_openai import openai_client_adapter

from floor import LONG_THREAD, capture
from report import cpu_seconds, pct  # bench/ is on sys.path: these run as scripts
from stores import Stores, stores

warnings.filterwarnings("ignore", category=DeprecationWarning)
INSTRUCTIONS = "You are a benchmark assistant."
WORKLOADS = ("crud", "runs_poll", "stream_ttft", "concurrent", "long_thread", "tool_roundtrip", "floor")
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather at a place.",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}


def summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    return {"n": len(samples), "mean_ms": statistics.fmean(samples), "p50_ms": pct(samples, 50),
            "p90_ms": pct(samples, 90), "p99_ms": pct(samples, 99), "min_ms": min(samples), "max_ms": max(samples)}


def ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


async def call(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


async def each(stream: Any) -> AsyncIterator[Any]:
    if hasattr(stream, "__aiter__"):
        async for item in stream:
            yield item
    else:
        for item in stream:
            yield item


class Errors:
    """Each iteration runs under ``with errors:``: a failure is counted (first 5 kept) and the
    workload goes on, until the 10th aborts it."""

    def __init__(self) -> None:
        self.count, self.messages = 0, []

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        self.count += 1
        if len(self.messages) < 5:
            self.messages.append(f"{type(exc).__name__}: {exc}")
        return self.count < 10

    def report(self) -> dict[str, Any]:
        return {"errors": self.count, "error_messages": self.messages}


@contextmanager
def fake_provider(**options: Any):
    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        args = [sys.executable, "-m", "supercompat_openai.testing", "--port-file", port_file]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        try:
            for _ in range(1000):
                if os.path.exists(port_file):
                    break
                time.sleep(0.01)
            yield f"http://127.0.0.1:{open(port_file).read().strip()}/v1", proc.pid
        finally:
            proc.terminate()
            proc.wait()


class RSSSampler:
    """Resident set size every 25 ms over the whole process, and getrusage's high-water mark."""

    def __init__(self) -> None:
        self.start_mb = self.peak_mb = self.now_mb()
        self._stop = threading.Event()
        threading.Thread(target=self._sample, name="rss-sampler", daemon=True).start()

    @staticmethod
    def now_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(0.025):
            self.peak_mb = max(self.peak_mb, self.now_mb())

    def report(self) -> dict[str, float]:
        self._stop.set()
        self.peak_mb = max(self.peak_mb, self.now_mb())
        return {"start_mb": self.start_mb, "peak_mb": self.peak_mb,
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "growth_mb": self.peak_mb - self.start_mb}


class Bench:
    def __init__(self, base_url: str, provider_pid: int, asynchronous: bool, stores: Stores) -> None:
        self.base_url, self.asynchronous, self.stores = base_url, asynchronous, stores
        self.provider_pid = provider_pid
        options = {"base_url": base_url, "api_key": "bench", "max_retries": 0, "timeout": 120}
        # The sync provider client is both the baseline and the one handed to supercompat, as the
        # reference does. An async one is bound to the loop it first runs on, and supercompat calls
        # its provider on its own loop: there the baseline is a twin with the same settings.
        if asynchronous:
            self.provider: Any = openai.AsyncOpenAI(**options)
            self.handed: Any = openai.AsyncOpenAI(**options)
        else:
            self.provider = self.handed = openai.OpenAI(**options)
        self.stats_url = base_url.removesuffix("/v1") + "/stats"

    async def fresh(self) -> tuple[Any, Any]:
        """A fresh store: a new supercompat client (sync or async) and its assistant."""
        make = async_supercompat if self.asynchronous else supercompat
        client = make(client_adapter=openai_client_adapter(openai=self.handed), storage_adapter=self.stores.fresh(),
                      max_retries=0, timeout=120)
        assistant = await call(client.beta.assistants.create(model="fake-model", name="bench",
                                                             instructions=INSTRUCTIONS))
        return client, assistant

    def provider_cpu_ms(self) -> float:
        """CPU time the fake provider's process has used so far (user + system)."""
        return (cpu_seconds(self.provider_pid) or 0.0) * 1000

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.stats_url) as answer:
            return json.load(answer)

    async def new_thread(self, client: Any, assistant: Any, text: str) -> Any:
        thread = await call(client.beta.threads.create(metadata={"assistantId": assistant.id}))
        await call(client.beta.threads.messages.create(thread.id, role="user", content=text))
        return thread

    async def create_and_poll(self, client: Any, assistant: Any, thread: Any, **extra: Any) -> Any:
        return await call(client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                                   poll_interval_ms=1, **extra))

    async def raw_stream(self, messages: list[dict[str, Any]], generic: bool = False,
                         provider: Any = None) -> tuple[float, float, str]:
        """(ttft ms, total ms, text) of a raw streamed provider call, consumed to [DONE]. ``generic``
        sends it through the SDK's untyped ``post()``, as the OpenAI client adapter does, which skips
        the per-message request transformation of ``chat.completions.create()``."""
        provider = provider or self.provider
        t0 = time.perf_counter()
        ttft, parts = None, []
        if generic:
            stream_cls = openai.AsyncStream[object] if self.asynchronous else openai.Stream[object]
            stream = await call(provider.post("/chat/completions", cast_to=object, stream=True,
                                                   stream_cls=stream_cls, body={"model": "fake-model",
                                                                                "messages": messages, "stream": True}))
        else:
            stream = await call(provider.chat.completions.create(model="fake-model", messages=messages, stream=True))
        async for chunk in each(stream):
            if generic:
                text = chunk["choices"][0]["delta"].get("content") if chunk.get("choices") else None
            else:
                text = chunk.choices[0].delta.content if chunk.choices else None
            if text:
                ttft = ttft or ms_since(t0)
                parts.append(text)
        return ttft or 0.0, ms_since(t0), "".join(parts)

    @staticmethod
    def prompt(text: str) -> list[dict[str, Any]]:
        return [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": text}]

    # -- (a) crud -----------------------------------------------------------------------------------
    async def crud(self, n: int, warmup: int = 50) -> dict[str, Any]:
        return await self._crud(n, warmup, self.fresh)

    async def _crud(self, n: int, warmup: int, fresh: Callable[[], Any]) -> dict[str, Any]:
        errors = Errors()
        for count in (warmup, n):
            client, assistant = await fresh()
            samples: dict[str, list[float]] = {k: [] for k in ("iteration", "threads_create", "messages_create",
                                                                 "messages_list")}
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for i in range(count):
                with errors:
                    t0 = time.perf_counter()
                    thread = await call(client.beta.threads.create(metadata={"assistantId": assistant.id}))
                    t1 = time.perf_counter()
                    await call(client.beta.threads.messages.create(thread.id, role="user", content=f"crud message {i}"))
                    t2 = time.perf_counter()
                    page = await call(client.beta.threads.messages.list(thread.id, limit=20))
                    t3 = time.perf_counter()
                    assert len(page.data) == 1, len(page.data)
                    for key, value in (("threads_create", t1 - t0), ("messages_create", t2 - t1),
                                       ("messages_list", t3 - t2), ("iteration", t3 - t0)):
                        samples[key].append(value * 1000)
            wall = ms_since(wall0)
            cpu = (time.process_time() - cpu0) * 1000
        return {"n": n, "wall_ms": wall, "ops_per_sec": 3 * n / wall * 1000, "iterations_per_sec": n / wall * 1000,
                "cpu_ms_per_iteration": cpu / n, **{k: summary(v) for k, v in samples.items()}, **errors.report()}

    # -- (b) runs_poll ------------------------------------------------------------------------------
    async def runs_poll(self, n: int, warmup: int = 10) -> dict[str, Any]:
        errors = Errors()
        for phase, count in (("warmup", warmup), ("timed", n)):
            client, assistant = await self.fresh()
            runs, streams, nonstreams, paired, creates, cpu_runs, cpu_raw = [], [], [], [], [], [], []
            messages_sent = 0
            for i in range(count):
                with errors:
                    text = f"Hello from run {i}"
                    thread = await call(client.beta.threads.create(metadata={"assistantId": assistant.id}))
                    t0 = time.perf_counter()
                    await call(client.beta.threads.messages.create(thread.id, role="user", content=text))
                    creates.append(ms_since(t0))
                    c0, t0 = time.process_time(), time.perf_counter()
                    run = await self.create_and_poll(client, assistant, thread)
                    run_ms = ms_since(t0)
                    cpu_runs.append((time.process_time() - c0) * 1000)
                    assert run.status == "completed", run.last_error
                    messages_sent = self.stats()["last_message_count"] if i == 0 else messages_sent
                    c0 = time.process_time()
                    _, stream_ms, raw_text = await self.raw_stream(self.prompt(text))
                    cpu_raw.append((time.process_time() - c0) * 1000)
                    t0 = time.perf_counter()
                    await call(self.provider.chat.completions.create(model="fake-model", messages=self.prompt(text)))
                    nonstreams.append(ms_since(t0))
                    runs.append(run_ms)
                    streams.append(stream_ms)
                    paired.append(run_ms - stream_ms)
                    if phase == "timed" and i in (0, count - 1):
                        page = await call(client.beta.threads.messages.list(thread.id, limit=1))
                        assert page.data[0].content[0].text.value == raw_text
        return {"n": n, "messages_create": summary(creates), "run_createAndPoll": summary(runs),
                "raw_chat_stream": summary(streams), "raw_chat_nonstream": summary(nonstreams),
                "overhead_p50_ms_vs_raw_stream": pct(runs, 50) - pct(streams, 50),
                "overhead_p99_ms_vs_raw_stream": pct(runs, 99) - pct(streams, 99),
                "overhead_p50_ms_vs_raw_nonstream": pct(runs, 50) - pct(nonstreams, 50),
                "overhead_p99_ms_vs_raw_nonstream": pct(runs, 99) - pct(nonstreams, 99),
                "overhead_paired_vs_raw_stream": summary(paired),
                "ratio_p50_run_over_raw_stream": pct(runs, 50) / pct(streams, 50),
                "cpu_ms_per_run": statistics.fmean(cpu_runs), "cpu_ms_per_raw_stream": statistics.fmean(cpu_raw),
                "provider_messages_per_run": messages_sent, **errors.report()}

    # -- (c) stream_ttft ----------------------------------------------------------------------------
    async def stream_ttft(self, n: int, warmup: int = 5) -> dict[str, Any]:
        errors = Errors()
        for count in (warmup, n):
            client, assistant = await self.fresh()
            ttft, total, raw_ttft, raw_total, paired, cpu = [], [], [], [], [], []
            for i in range(count):
                with errors:
                    text = f"Stream please {i}"
                    thread = await self.new_thread(client, assistant, text)
                    first, parts, completed, cpu_ms = await self._streamed_run(client, assistant, thread)
                    cpu.append(cpu_ms)
                    total.append(completed)
                    r_ttft, r_total, raw_text = await self.raw_stream(self.prompt(text))
                    assert "".join(parts) == raw_text
                    ttft.append(first)
                    raw_ttft.append(r_ttft)
                    raw_total.append(r_total)
                    paired.append(first - r_ttft)
        return {"n": n, "run_ttft": summary(ttft), "run_stream_total": summary(total), "raw_ttft": summary(raw_ttft),
                "raw_stream_total": summary(raw_total), "ttft_overhead_p50_ms": pct(ttft, 50) - pct(raw_ttft, 50),
                "ttft_overhead_p99_ms": pct(ttft, 99) - pct(raw_ttft, 99), "ttft_overhead_paired": summary(paired),
                "cpu_ms_per_streamed_run": statistics.fmean(cpu), **errors.report()}

    @staticmethod
    async def _streamed_run(client: Any, assistant: Any, thread: Any) -> tuple[float, list[str], float, float]:
        """(ttft ms, text deltas, total ms, CPU ms) of ``runs.create(stream=True)`` consumed to its end."""
        c0, t0 = time.process_time(), time.perf_counter()
        first, parts, completed = None, [], False
        stream = await call(client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                                            stream=True))
        async for event in each(stream):
            if event.event == "thread.message.delta":
                value = event.data.delta.content[0].text.value
                if value and first is None:
                    first = ms_since(t0)
                parts.append(value)
            completed = completed or event.event == "thread.run.completed"
        total = ms_since(t0)
        assert completed, "the stream ended without thread.run.completed"
        return first or 0.0, parts, total, (time.process_time() - c0) * 1000

    # -- (d) concurrent -----------------------------------------------------------------------------
    async def concurrent(self, batches: int = 3, size: int = 50) -> dict[str, Any]:
        errors = Errors()
        client, assistant = await self.fresh()
        pool = ThreadPoolExecutor(size) if not self.asynchronous else None
        loop = asyncio.get_running_loop()

        async def together(calls: list[Callable[[], Any]]) -> list[Any]:
            if pool is None:
                return await asyncio.gather(*(c() for c in calls), return_exceptions=True)
            return await asyncio.gather(*(loop.run_in_executor(pool, c) for c in calls), return_exceptions=True)

        def timed_run(thread: Any) -> Callable[[], Any]:
            """A create_and_poll that reports its own latency (from when it starts, in its pool thread)."""
            if pool is None:
                async def run() -> tuple[float, Any]:
                    t0 = time.perf_counter()
                    done = await self.create_and_poll(client, assistant, thread)
                    return ms_since(t0), done
                return run

            def run_in_thread() -> tuple[float, Any]:
                t0 = time.perf_counter()
                done = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                                poll_interval_ms=1)
                return ms_since(t0), done
            return run_in_thread

        async def batch(label: str, count: int) -> tuple[float, float, list[float]]:
            threads = [await self.new_thread(client, assistant, f"Concurrent {label} {i}") for i in range(count)]
            c0, p0, t0 = time.process_time(), self.provider_cpu_ms(), time.perf_counter()
            results = await together([timed_run(t) for t in threads])
            wall, cpu = ms_since(t0), (time.process_time() - c0) * 1000
            provider_cpu.append(self.provider_cpu_ms() - p0)
            latencies = []
            for outcome in results:
                with errors:
                    if isinstance(outcome, BaseException):
                        raise outcome
                    latency, run = outcome
                    assert run.status == "completed", run.last_error
                    latencies.append(latency)
            return wall, cpu, latencies

        provider_cpu: list[float] = []
        await batch("warmup", 10)
        provider_cpu.clear()
        walls, cpus, latencies = [], [], []
        for b in range(batches):
            wall, cpu, lat = await batch(f"batch{b}", size)
            walls.append(wall)
            cpus.append(cpu)
            latencies += lat
        raw_walls, raw_cpu, raw_provider_cpu = [], [], []
        for _ in range(batches):
            c0, p0, t0 = time.process_time(), self.provider_cpu_ms(), time.perf_counter()
            calls = [lambda i=i: self.raw_stream(self.prompt(f"raw {i}")) for i in range(size)]
            if pool is None:
                await together(calls)
            else:
                await together([lambda c=c: asyncio.run(c()) for c in calls])
            raw_walls.append(ms_since(t0))
            raw_cpu.append((time.process_time() - c0) * 1000)
            raw_provider_cpu.append(self.provider_cpu_ms() - p0)
        if pool is not None:
            pool.shutdown()
        return {"client": "async (asyncio.gather)" if pool is None else f"sync ({size}-thread pool)",
                "batches": [{"wall_ms": w, "cpu_ms": c, "runs_per_sec": size / w * 1000}
                            for w, c in zip(walls, cpus, strict=True)],
                "wall_ms_median": statistics.median(walls),
                "runs_per_sec_median": size / statistics.median(walls) * 1000,
                "cpu_ms_median": statistics.median(cpus), "run_latency": summary(latencies),
                "raw_stream_concurrent_wall_ms": raw_walls,
                "raw_stream_concurrent_wall_ms_median": statistics.median(raw_walls),
                # CPU per run or raw stream: this process, and the fake provider's (the machine's 2 cores
                # serve both, so together they bound the throughput).
                "cpu_ms_per_run": statistics.median(cpus) / size,
                "provider_cpu_ms_per_run": statistics.median(provider_cpu) / size,
                "raw_cpu_ms_per_stream": statistics.median(raw_cpu) / size,
                "raw_provider_cpu_ms_per_stream": statistics.median(raw_provider_cpu) / size, **errors.report()}

    # -- (e) long_thread ----------------------------------------------------------------------------
    async def long_thread(self, size: int = 2000) -> dict[str, Any]:
        errors = Errors()
        client, assistant = await self.fresh()
        thread = await call(client.beta.threads.create(metadata={"assistantId": assistant.id}))
        history = [{"role": "system", "content": INSTRUCTIONS}]
        creates = []
        wall0 = time.perf_counter()
        for i in range(size):
            role, text = ("user" if i % 2 == 0 else "assistant"), f"long thread message {i}"
            t0 = time.perf_counter()
            await call(client.beta.threads.messages.create(thread.id, role=role, content=text))
            creates.append(ms_since(t0))
            history.append({"role": role, "content": text})
        populate = ms_since(wall0)
        lists = []
        for _ in range(20):
            with errors:
                t0 = time.perf_counter()
                page = await call(client.beta.threads.messages.list(thread.id, limit=20, order="desc"))
                lists.append(ms_since(t0))
                assert len(page.data) == 20 and page.data[0].content[0].text.value == f"long thread message {size - 1}"
        runs, cpus, sent = [], [], []
        for i in range(3):
            with errors:
                c0, t0 = time.process_time(), time.perf_counter()
                run = await self.create_and_poll(client, assistant, thread)
                runs.append(ms_since(t0))
                cpus.append((time.process_time() - c0) * 1000)
                assert run.status == "completed", run.last_error
                sent.append(self.stats()["last_message_count"])
                # The instructions, then the whole thread: its messages and the answers of earlier runs.
                assert sent[-1] == 1 + size + i, sent
        raw, generic = [], []
        for _ in range(3):
            raw.append((await self.raw_stream(history))[1])
            generic.append((await self.raw_stream(history, generic=True))[1])
        return {"n_messages": size, "populate_wall_ms": populate, "messages_create": summary(creates),
                "list_limit20_desc": summary(lists), "runs": summary(runs), "runs_ms": runs, "runs_cpu_ms": cpus,
                "raw_stream_same_payload": summary(raw),
                "run_overhead_p50_ms_vs_raw": (pct(runs, 50) - pct(raw, 50)) if runs else None,
                "raw_post_same_payload": summary(generic),
                "run_overhead_p50_ms_vs_raw_post": (pct(runs, 50) - pct(generic, 50)) if runs else None,
                "provider_messages_per_run": sent, **errors.report()}

    # -- (g) tool_roundtrip -------------------------------------------------------------------------
    async def tool_roundtrip(self, n: int, warmup: int = 3) -> dict[str, Any]:
        errors = Errors()
        for count in (warmup, n):
            client, assistant = await self.fresh()
            to_action, to_complete, totals = [], [], []
            for i in range(count):
                with errors:
                    thread = await self.new_thread(client, assistant, f"What is the weather in Paris? ({i})")
                    t0 = time.perf_counter()
                    run = await self.create_and_poll(client, assistant, thread, tools=[WEATHER_TOOL])
                    t1 = time.perf_counter()
                    assert run.status == "requires_action", run.status
                    calls = run.required_action.submit_tool_outputs.tool_calls
                    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
                        ("get_weather", {"location": "Paris"})], calls
                    run = await call(client.beta.threads.runs.submit_tool_outputs_and_poll(
                        run_id=run.id, thread_id=thread.id, poll_interval_ms=1,
                        tool_outputs=[{"tool_call_id": calls[0].id, "output": '{"temperature_c":18}'}]))
                    t2 = time.perf_counter()
                    assert run.status == "completed", run.last_error
                    assert self.stats()["last_roles_tail"][-3:] == ["user", "assistant", "tool"]
                    to_action.append((t1 - t0) * 1000)
                    to_complete.append((t2 - t1) * 1000)
                    totals.append((t2 - t0) * 1000)
        return {"n": n, "to_requires_action": summary(to_action), "submit_to_completed": summary(to_complete),
                "total": summary(totals), **errors.report()}

    # -- floor --------------------------------------------------------------------------------------
    async def floor(self, n: int, runs: int) -> dict[str, Any]:
        """The crud loop, create_and_poll and a streamed run, with the SDK answered from canned bytes."""
        sync_client = supercompat(client_adapter=openai_client_adapter(openai=self.handed),
                                  storage_adapter=self.stores.fresh(), max_retries=0)
        assistant = sync_client.beta.assistants.create(model="fake-model", name="bench", instructions=INSTRUCTIONS)
        canned = capture(sync_client, assistant.id,
                         openai.OpenAI(base_url=self.base_url, api_key="bench", max_retries=0))
        client = canned.sdk_client(self.asynchronous)

        async def same_client() -> tuple[Any, Any]:
            return client, assistant

        crud = await self._crud(n, 50, same_client)
        lists = []
        for _ in range(n):
            t0 = time.perf_counter()
            page = await call(client.beta.threads.messages.list(LONG_THREAD, limit=20))
            lists.append(ms_since(t0))
            assert len(page.data) == 20
        thread = await call(client.beta.threads.create())
        polls, ttft, totals, raw_ttft, raw_totals = [], [], [], [], []
        for _ in range(runs):
            first, total, _ = await self.raw_stream(self.prompt("Stream please 0"), provider=client)
            raw_ttft.append(first)
            raw_totals.append(total)
            t0 = time.perf_counter()
            run = await self.create_and_poll(client, assistant, thread)
            polls.append(ms_since(t0))
            assert run.status == "completed"
            first, _, total, _ = await self._streamed_run(client, assistant, thread)
            ttft.append(first)
            totals.append(total)
        return {**{k: crud[k] for k in ("iteration", "threads_create", "messages_create", "messages_list",
                                        "cpu_ms_per_iteration")},
                "messages_list_20": summary(lists), "run_createAndPoll": summary(polls),
                "raw_ttft": summary(raw_ttft), "raw_stream_total": summary(raw_totals), "run_ttft": summary(ttft),
                "run_stream_total": summary(totals)}


async def run_workloads(bench: Bench, names: list[str], scale: float) -> dict[str, Any]:
    def scaled(n: int) -> int:
        return max(1, int(n * scale))

    plans: dict[str, Callable[[], Any]] = {
        "crud": lambda: bench.crud(scaled(500), scaled(50)),
        "runs_poll": lambda: bench.runs_poll(scaled(200), scaled(10)),
        "stream_ttft": lambda: bench.stream_ttft(scaled(100), scaled(5)),
        "concurrent": lambda: bench.concurrent(max(3, scaled(3)), 50),
        "long_thread": lambda: bench.long_thread(scaled(2000)),
        "tool_roundtrip": lambda: bench.tool_roundtrip(scaled(20), scaled(3)),
        "floor": lambda: bench.floor(scaled(500), scaled(100)),
    }
    results = {}
    for name in names:
        results[name] = await plans[name]()
        print(f"# {name} done", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--client", choices=("sync", "async"), default="sync")
    parser.add_argument("--storage", default="memory", help="memory, sqlite or postgresql")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--label", default="supercompat-python")
    parser.add_argument("--token-delay-ms", type=float, default=0,
                        help="the fake provider's pause between tokens (the reference workloads use 0)")
    parser.add_argument("--out")
    args = parser.parse_args()
    names = args.workloads.split(",")
    unknown = set(names) - set(WORKLOADS)
    if unknown:
        raise SystemExit(f"unknown workloads: {', '.join(sorted(unknown))}")
    rss = RSSSampler()
    result: dict[str, Any] = {"meta": {
        "impl": args.label, "client": args.client, "storage": args.storage, "scale": args.scale,
        "token_delay_ms": args.token_delay_ms,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "openai": openai.__version__, "machine": platform.machine(), "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(), "load_avg_start": os.getloadavg()[0]}}
    with (fake_provider(latency_ms=0, tokens=20, token_delay_ms=args.token_delay_ms) as (base_url, pid),
          stores(args.storage) as made):
        bench = Bench(base_url, pid, args.client == "async", made)
        result["workloads"] = asyncio.run(run_workloads(bench, names, args.scale))
    result["rss"] = rss.report()
    result["meta"]["load_avg_end"] = os.getloadavg()[0]
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        return ""


if __name__ == "__main__":
    main()
