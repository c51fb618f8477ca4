"""Load on `supercompat serve` over loopback: thousands of requests, tens at a time, mixing CRUD and
streamed runs, through openai.AsyncOpenAI. Fails on any error or on anything lost.

    python bench/server_load.py [--requests 3000] [--concurrency 32] [--write docs/performance.md]

The server is a separate process (`supercompat serve`, memory storage, the scripted model, which
answers "You said: <last user message>"). Each worker takes threads in turn: it creates one with a
message, then for each round adds a message, streams a run and lists the thread, checking that every
message is there, in order, with the answer the run streamed. Needs supercompat[server].
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai

sys.path.insert(0, os.path.dirname(__file__))
from report import cpu_seconds, pct, write_section  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)
API_KEY = "sk-load-test"
ROUNDS = 5  # rounds per thread: add a message, stream a run, list the thread


@contextmanager
def running_server(storage_url: str | None = None, workers: int = 1) -> Iterator[tuple[str, list[str], int]]:
    """`supercompat serve` on a free loopback port (memory storage, or the sqlalchemy storage at
    ``storage_url``); yields its base URL, the list its error log (stderr) is collected into, and its
    process id."""
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "supercompat.toml")
        storage = f'[storage]\nplugin = "sqlalchemy"\nurl = "{storage_url}"\n' if storage_url else ""
        with open(config, "w") as f:
            f.write(f'[client]\nplugin = "scripted"\n{storage}[server]\nport = 0\nworkers = {workers}\n'
                    f'api_keys = ["{API_KEY}"]\n')
        proc = subprocess.Popen([sys.executable, "-m", "supercompat.cli", "serve", "--config", config],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        log: list[str] = []
        drain: threading.Thread | None = None
        try:
            for line in proc.stderr:  # uvicorn logs the port it bound
                log.append(line)
                found = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
                if found:
                    break
            else:
                raise RuntimeError("the server did not start:\n" + "".join(log))
            del log[:]
            drain = threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True)
            drain.start()
            base = f"http://127.0.0.1:{found.group(1)}"
            wait_healthy(base)  # with several workers the port is bound before they all serve
            yield f"{base}/v1", log, proc.pid
        finally:
            proc.terminate()
            proc.wait()
            if drain is not None:  # else the start failed: its error carries the server's log
                drain.join()
            proc.stderr.close()


def wait_healthy(base: str, timeout: float = 30.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server at {base} never became healthy")
        time.sleep(0.05)


class Load:
    def __init__(self, client: openai.AsyncOpenAI, requests: int) -> None:
        self.client = client
        self.budget = requests
        self.sent = 0
        self.crud_ms: list[float] = []
        self.run_ms: list[float] = []
        self.threads = 0
        self.problems: list[str] = []

    async def timed(self, samples: list[float], call: Any) -> Any:
        self.sent += 1
        t0 = time.perf_counter()
        result = await call
        samples.append((time.perf_counter() - t0) * 1000)
        return result

    async def streamed_run(self, thread_id: str, assistant_id: str) -> tuple[str, str]:
        self.sent += 1
        t0 = time.perf_counter()
        stream = await self.client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant_id,
                                                            stream=True)
        text, last = [], ""
        async for event in stream:
            last = event.event
            if event.event == "thread.message.delta":
                text.append(event.data.delta.content[0].text.value)
        self.run_ms.append((time.perf_counter() - t0) * 1000)
        return last, "".join(text)

    async def worker(self, n: int) -> None:
        c = self.client.beta
        assistant = await self.timed(self.crud_ms, c.assistants.create(model="load", name=f"worker {n}"))
        while self.sent + 2 + 3 * ROUNDS <= self.budget:
            expected = [("user", f"w{n} t{self.threads} first")]
            self.threads += 1
            thread = await self.timed(self.crud_ms, c.threads.create(
                messages=[{"role": "user", "content": expected[0][1]}]))
            for i in range(ROUNDS):
                if i:
                    text = f"{expected[0][1]} round {i}"
                    await self.timed(self.crud_ms, c.threads.messages.create(thread.id, role="user", content=text))
                    expected.append(("user", text))
                last, answer = await self.streamed_run(thread.id, assistant.id)
                expected.append(("assistant", f"You said: {expected[-1][1]}"))
                if last != "thread.run.completed" or answer != expected[-1][1]:
                    self.problems.append(f"run on {thread.id} ended with {last}, streaming {answer!r}")
                page = await self.timed(self.crud_ms, c.threads.messages.list(thread.id, order="asc", limit=100))
                got = [(m.role, m.content[0].text.value) for m in page.data]
                if got != expected:
                    self.problems.append(f"{thread.id} holds {got}, expected {expected}")


async def drive(base_url: str, requests: int, concurrency: int, server_pid: int | None = None) -> dict[str, Any]:
    """Run the load; raise AssertionError naming what went wrong, else return the measurements."""
    server_cpu = cpu_seconds(server_pid) if server_pid else None
    client_cpu = time.process_time()
    async with openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0) as client:
        load = Load(client, requests)
        t0 = time.perf_counter()
        outcomes = await asyncio.gather(*(load.worker(n) for n in range(concurrency)), return_exceptions=True)
        elapsed = time.perf_counter() - t0
    client_cpu = time.process_time() - client_cpu
    if server_cpu is not None:
        server_cpu = cpu_seconds(server_pid) - server_cpu  # type: ignore[arg-type, operator]
    errors = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    assert not errors, f"{len(errors)} workers failed, first: {errors[0]}"
    assert not load.problems, f"{len(load.problems)} problems, first: {load.problems[0]}"
    return {"requests": load.sent, "concurrency": concurrency, "threads": load.threads, "runs": len(load.run_ms),
            "seconds": elapsed, "requests_per_s": load.sent / elapsed, "runs_per_s": len(load.run_ms) / elapsed,
            "crud_p50_ms": pct(load.crud_ms, 50), "crud_p99_ms": pct(load.crud_ms, 99),
            "run_p50_ms": pct(load.run_ms, 50), "run_p99_ms": pct(load.run_ms, 99),
            "client_cpu_ms_per_request": client_cpu * 1000 / load.sent,
            "server_cpu_ms_per_request": server_cpu * 1000 / load.sent if server_cpu is not None else None}


def render(r: dict[str, Any]) -> str:
    return "\n".join([
        "## HTTP server under load (loopback)", "",
        f"`python bench/server_load.py --write docs/performance.md` — `supercompat serve` (one worker, memory "
        f"storage, the scripted model) in its own process, driven by `openai.AsyncOpenAI` from another; "
        f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores shared by both.", "",
        f"{r['requests']:,} requests from {r['concurrency']} concurrent workers over {r['threads']} threads "
        f"({r['runs']:,} streamed runs, the rest CRUD): no errors, every message present and in order.", "",
        "| metric | value |", "|---|---:|",
        f"| throughput | {r['requests_per_s']:.0f} requests/s |",
        f"| streamed runs | {r['runs_per_s']:.0f} runs/s |",
        f"| CRUD request p50 / p99 | {r['crud_p50_ms']:.1f} / {r['crud_p99_ms']:.1f} ms |",
        f"| streamed run, request to last event, p50 / p99 | {r['run_p50_ms']:.1f} / {r['run_p99_ms']:.1f} ms |",
        f"| CPU per request: server / openai SDK client | {r['server_cpu_ms_per_request'] or float('nan'):.2f} / "
        f"{r['client_cpu_ms_per_request']:.2f} ms |",
        "",
        "The openai SDK client spends several times the server's CPU per request, so these numbers are "
        "bound by the one client process sharing two cores with the server (and with whatever else the "
        "machine runs)" + (f"; at its CPU per request, the server alone would serve about "
                           f"{1000 / r['server_cpu_ms_per_request']:.0f} requests/s on one core."
                           if r["server_cpu_ms_per_request"] else "."),
    ]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--write", help="update this markdown page's server-load section")
    args = parser.parse_args()
    with running_server() as (base_url, server_log, pid):
        result = asyncio.run(drive(base_url, args.requests, args.concurrency, pid))
    assert not any("Traceback" in line or "ERROR" in line for line in server_log), "".join(server_log)
    text = render(result)
    print(text)
    if args.write:
        write_section(args.write, "server-load", text)


if __name__ == "__main__":
    main()
