"""Benchmark workloads of shared/reference/bench-workloads.md, ported (crud, runs_poll, stream_ttft,
concurrent so far), against a loopback fake OpenAI provider running in its own process.

    python bench/workloads.py [--workloads crud,runs_poll,stream_ttft,concurrent] [--scale 1.0]
                              [--out result.json] [--write docs/performance.md]

Needs supercompat and supercompat-openai installed. Prints one JSON round object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from typing import Any

import openai

from supercompat import async_supercompat, supercompat
from supercompat_openai import openai_client_adapter

warnings.filterwarnings("ignore", category=DeprecationWarning)
INSTRUCTIONS = "You are a benchmark assistant."


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summary(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "mean_ms": statistics.fmean(samples), "p50_ms": pct(samples, 50),
            "p90_ms": pct(samples, 90), "p99_ms": pct(samples, 99), "min_ms": min(samples), "max_ms": max(samples)}


@contextmanager
def fake_provider(**options: Any):
    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        args = [sys.executable, "-m", "supercompat.testing.fake_openai", "--port-file", port_file]
        for key, value in options.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        try:
            for _ in range(500):
                if os.path.exists(port_file) and open(port_file).read().strip():
                    break
                time.sleep(0.01)
            yield f"http://127.0.0.1:{open(port_file).read().strip()}/v1"
        finally:
            proc.terminate()
            proc.wait()


class Bench:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.provider = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=120)

    def client(self) -> tuple[Any, Any]:
        """A fresh store: a new supercompat client and its assistant."""
        client = supercompat(client_adapter=openai_client_adapter(openai=self.provider), max_retries=0, timeout=120)
        assistant = client.beta.assistants.create(model="fake-model", name="bench", instructions=INSTRUCTIONS)
        return client, assistant

    def raw_stream(self, text: str) -> tuple[float, float, str]:
        """(ttft ms, total ms, text) of the like-for-like raw streamed call."""
        t0 = time.perf_counter()
        ttft = None
        parts = []
        for chunk in self.provider.chat.completions.create(model="fake-model", stream=True, messages=[
                {"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": text}]):
            if chunk.choices and chunk.choices[0].delta.content:
                ttft = ttft or (time.perf_counter() - t0) * 1000
                parts.append(chunk.choices[0].delta.content)
        return ttft or 0.0, (time.perf_counter() - t0) * 1000, "".join(parts)

    def raw_nonstream(self, text: str) -> float:
        t0 = time.perf_counter()
        self.provider.chat.completions.create(model="fake-model", messages=[
            {"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": text}])
        return (time.perf_counter() - t0) * 1000

    def crud(self, n: int = 500, warmup: int = 50) -> dict[str, Any]:
        for phase, count in (("warmup", warmup), ("timed", n)):
            client, assistant = self.client()
            samples: dict[str, list[float]] = {k: [] for k in ("iteration", "threads_create", "messages_create",
                                                                 "messages_list")}
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for i in range(count):
                t0 = time.perf_counter()
                thread = client.beta.threads.create(metadata={"assistantId": assistant.id})
                t1 = time.perf_counter()
                client.beta.threads.messages.create(thread.id, role="user", content=f"crud message {i}")
                t2 = time.perf_counter()
                page = client.beta.threads.messages.list(thread.id, limit=20)
                t3 = time.perf_counter()
                assert len(page.data) == 1
                for key, value in (("threads_create", t1 - t0), ("messages_create", t2 - t1),
                                   ("messages_list", t3 - t2), ("iteration", t3 - t0)):
                    samples[key].append(value * 1000)
            wall = (time.perf_counter() - wall0) * 1000
            cpu = (time.process_time() - cpu0) * 1000
        return {"n": n, "wall_ms": wall, "ops_per_sec": 3 * n / wall * 1000, "iterations_per_sec": n / wall * 1000,
                "cpu_ms_per_iteration": cpu / n, **{k: summary(v) for k, v in samples.items()}}

    def runs_poll(self, n: int = 200, warmup: int = 10) -> dict[str, Any]:
        for phase, count in (("warmup", warmup), ("timed", n)):
            client, assistant = self.client()
            runs, streams, nonstreams, paired, cpu_runs = [], [], [], [], []
            for i in range(count):
                thread = client.beta.threads.create(metadata={"assistantId": assistant.id})
                text = f"Hello from run {i}"
                client.beta.threads.messages.create(thread.id, role="user", content=text)
                c0, t0 = time.process_time(), time.perf_counter()
                run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                               poll_interval_ms=1)
                run_ms = (time.perf_counter() - t0) * 1000
                cpu_runs.append((time.process_time() - c0) * 1000)
                assert run.status == "completed", run.last_error
                _, stream_ms, raw_text = self.raw_stream(text)
                nonstreams.append(self.raw_nonstream(text))
                runs.append(run_ms)
                streams.append(stream_ms)
                paired.append(run_ms - stream_ms)
                if phase == "timed" and i in (0, count - 1):
                    answer = client.beta.threads.messages.list(thread.id, limit=1).data[0].content[0].text.value
                    assert answer == raw_text, (answer, raw_text)
        return {"n": n, "run_createAndPoll": summary(runs), "raw_chat_stream": summary(streams),
                "raw_chat_nonstream": summary(nonstreams),
                "overhead_p50_ms_vs_raw_stream": pct(runs, 50) - pct(streams, 50),
                "overhead_p99_ms_vs_raw_stream": pct(runs, 99) - pct(streams, 99),
                "overhead_p50_ms_vs_raw_nonstream": pct(runs, 50) - pct(nonstreams, 50),
                "overhead_paired_vs_raw_stream": summary(paired),
                "ratio_p50_run_over_raw_stream": pct(runs, 50) / pct(streams, 50),
                "cpu_ms_per_run": statistics.fmean(cpu_runs)}

    def stream_ttft(self, n: int = 100, warmup: int = 5) -> dict[str, Any]:
        for phase, count in (("warmup", warmup), ("timed", n)):
            client, assistant = self.client()
            ttft, total, raw_ttft, raw_total, paired = [], [], [], [], []
            for i in range(count):
                thread = client.beta.threads.create(metadata={"assistantId": assistant.id})
                text = f"Stream please {i}"
                client.beta.threads.messages.create(thread.id, role="user", content=text)
                t0 = time.perf_counter()
                first, parts, completed = None, [], False
                for event in client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                                             stream=True):
                    if event.event == "thread.message.delta":
                        value = event.data.delta.content[0].text.value
                        if value and first is None:
                            first = (time.perf_counter() - t0) * 1000
                        parts.append(value)
                    completed = completed or event.event == "thread.run.completed"
                total.append((time.perf_counter() - t0) * 1000)
                assert completed
                ttft.append(first or 0.0)
                r_ttft, r_total, raw_text = self.raw_stream(text)
                assert "".join(parts) == raw_text
                raw_ttft.append(r_ttft)
                raw_total.append(r_total)
                paired.append(ttft[-1] - r_ttft)
        return {"n": n, "run_ttft": summary(ttft), "run_stream_total": summary(total), "raw_ttft": summary(raw_ttft),
                "raw_stream_total": summary(raw_total), "ttft_overhead_p50_ms": pct(ttft, 50) - pct(raw_ttft, 50),
                "ttft_overhead_p99_ms": pct(ttft, 99) - pct(raw_ttft, 99), "ttft_overhead_paired": summary(paired)}

    def concurrent(self, batches: int = 3, size: int = 50) -> dict[str, Any]:
        return asyncio.run(self._concurrent(batches, size))

    async def _concurrent(self, batches: int, size: int) -> dict[str, Any]:
        provider = openai.AsyncOpenAI(base_url=self.base_url, api_key="bench", max_retries=0, timeout=120)
        raw = openai.AsyncOpenAI(base_url=self.base_url, api_key="bench", max_retries=0, timeout=120)
        client = async_supercompat(client_adapter=openai_client_adapter(openai=provider), max_retries=0, timeout=120)
        assistant = await client.beta.assistants.create(model="fake-model", name="bench", instructions=INSTRUCTIONS)

        async def batch(label: str, count: int) -> tuple[float, float, list[float]]:
            threads = []
            for i in range(count):
                thread = await client.beta.threads.create(metadata={"assistantId": assistant.id})
                await client.beta.threads.messages.create(thread.id, role="user", content=f"Concurrent {label} {i}")
                threads.append(thread)

            async def one(thread: Any) -> float:
                t0 = time.perf_counter()
                run = await client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                                     poll_interval_ms=1)
                assert run.status == "completed", run.last_error
                return (time.perf_counter() - t0) * 1000

            c0, t0 = time.process_time(), time.perf_counter()
            latencies = await asyncio.gather(*(one(t) for t in threads))
            return (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000, list(latencies)

        await batch("warmup", 10)
        walls, cpus, latencies = [], [], []
        for b in range(batches):
            wall, cpu, lat = await batch(f"batch{b}", size)
            walls.append(wall)
            cpus.append(cpu)
            latencies += lat

        async def raw_call(i: int) -> None:
            stream = await raw.chat.completions.create(model="fake-model", stream=True, messages=[
                {"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": f"raw {i}"}])
            async for _ in stream:
                pass

        raw_walls = []
        for _ in range(batches):
            t0 = time.perf_counter()
            await asyncio.gather(*(raw_call(i) for i in range(size)))
            raw_walls.append((time.perf_counter() - t0) * 1000)
        await provider.close()
        await raw.close()
        return {"client": "async (asyncio.gather)", "batches": [{"wall_ms": w, "cpu_ms": c, "runs_per_sec": size / w * 1000}
                                                               for w, c in zip(walls, cpus)],
                "wall_ms_median": statistics.median(walls), "runs_per_sec_median": size / statistics.median(walls) * 1000,
                "cpu_ms_median": statistics.median(cpus), "run_latency": summary(latencies),
                "raw_stream_concurrent_wall_ms": raw_walls, "raw_stream_concurrent_wall_ms_median": statistics.median(raw_walls)}


def render(result: dict[str, Any]) -> str:
    w = result["workloads"]
    lines = ["## Runs against a loopback fake OpenAI provider", "",
             f"`python bench/workloads.py --write docs/performance.md` — memory storage, OpenAI client adapter, "
             f"sync client unless noted; {result['meta']['python']}, {result['meta']['machine']}, "
             f"{os.cpu_count()} cores; the fake provider runs in its own process. Reference: TypeScript "
             "Supercompat 4.2.3 on a 2-core machine like ours.", "",
             "| metric | supercompat (Python) | reference (TS 4.2.3) |", "|---|---:|---:|"]
    if "runs_poll" in w:
        r = w["runs_poll"]
        lines.append(f"| run overhead over a raw streamed call, p50 (`runs_poll`) | {r['overhead_p50_ms_vs_raw_stream']:.2f} ms | 1.30 ms |")
        lines.append(f"| run `create_and_poll` p50 / raw stream p50 | {r['run_createAndPoll']['p50_ms']:.2f} / {r['raw_chat_stream']['p50_ms']:.2f} ms | |")
    if "stream_ttft" in w:
        s = w["stream_ttft"]
        lines.append(f"| time-to-first-token overhead, p50 (`stream_ttft`) | {s['ttft_overhead_p50_ms']:.2f} ms | 0.71 ms |")
    if "concurrent" in w:
        c = w["concurrent"]
        lines.append(f"| 50 concurrent runs, async client (`concurrent`) | {c['runs_per_sec_median']:.0f} runs/s | 400 runs/s |")
    if "crud" in w:
        c = w["crud"]
        lines.append(f"| CRUD iteration p50 (thread + message + list) | {c['iteration']['p50_ms']:.2f} ms | |")
    return "\n".join(lines) + "\n\nOne round; issue 4 adds rounds, the SDK floor and profiling.\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workloads", default="crud,runs_poll,stream_ttft,concurrent")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--out")
    parser.add_argument("--write")
    args = parser.parse_args()
    result: dict[str, Any] = {"meta": {"impl": "supercompat-python", "python": platform.python_version(),
                                       "machine": platform.machine(), "client": "sync (concurrent: async)"},
                              "workloads": {}}
    scale = args.scale
    with fake_provider(latency_ms=0, tokens=20, token_delay_ms=0) as base_url:
        bench = Bench(base_url)
        for name in args.workloads.split(","):
            if name == "concurrent":
                result["workloads"][name] = bench.concurrent()
            else:
                n = {"crud": 500, "runs_poll": 200, "stream_ttft": 100}[name]
                result["workloads"][name] = getattr(bench, name)(max(1, int(n * scale)))
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    if args.write:
        sys.path.insert(0, os.path.dirname(__file__))
        from list_scaling import write_section

        write_section(args.write, "runs", render(result))


if __name__ == "__main__":
    main()
