"""messages.list(limit=20) through the real openai SDK on threads of growing size (memory store).

    python bench/list_scaling.py [--sizes 100,2000,100000] [--repeat 200] [--write docs/performance.md]

Threads are filled through the storage adapter (the SDK path is measured by the crud benchmarks);
each size is timed with the sync client, median and p99 of ``--repeat`` calls after a warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
import warnings

from supercompat import supercompat
from supercompat.storage import memory_storage_adapter
from supercompat.testing.storage import make_message, make_thread

warnings.filterwarnings("ignore", category=DeprecationWarning)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, -(-len(ordered) * q // 100) - 1)]  # nearest rank


async def fill(storage, size: int) -> str:
    thread = make_thread()
    await storage.create_thread(thread, [])
    for i in range(size):
        await storage.create_message(make_message(thread["id"], f"long thread message {i}"))
    return thread["id"]


def measure(sizes: list[int], repeat: int) -> list[dict]:
    storage = memory_storage_adapter()
    client = supercompat(storage_adapter=storage, max_retries=0)
    rows = []
    for size in sizes:
        thread_id = asyncio.run(fill(storage, size))
        for _ in range(20):
            client.beta.threads.messages.list(thread_id, limit=20)
        samples = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            page = client.beta.threads.messages.list(thread_id, limit=20)
            samples.append((time.perf_counter() - t0) * 1000)
            assert len(page.data) == 20 and page.data[0].content[0].text.value == f"long thread message {size - 1}"
        rows.append({"size": size, "p50_ms": statistics.median(samples), "p99_ms": percentile(samples, 99)})
    return rows


def render(rows: list[dict], repeat: int) -> str:
    base = rows[0]["p50_ms"]
    lines = ["## List cost versus thread size (memory storage)", "",
             f"`python bench/list_scaling.py` — `messages.list(limit=20)` through `openai.OpenAI`, {repeat} calls "
             f"per size; {platform.python_implementation()} {platform.python_version()}, "
             f"{platform.machine()}, 2 cores.", "",
             "| messages in thread | p50 ms | p99 ms | p50 vs smallest |", "|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['size']:,} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['p50_ms'] / base:.2f}× |")
    return "\n".join(lines) + "\n"


def write_section(path: str, marker: str, text: str) -> None:
    """Replace the section between ``<!-- marker -->`` comments, keeping the rest of the page."""
    begin, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    try:
        page = open(path).read()
    except FileNotFoundError:
        page = "# Performance\n\n"
    block = f"{begin}\n{text}{end}\n"
    if begin in page:
        head, rest = page.split(begin, 1)
        page = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        page = page.rstrip("\n") + "\n\n" + block
    open(path, "w").write(page)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,2000,100000")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--write", help="update this markdown page's list-scaling section")
    args = parser.parse_args()
    rows = measure([int(s) for s in args.sizes.split(",")], args.repeat)
    text = render(rows, args.repeat)
    print(text)
    if args.write:
        write_section(args.write, "list-scaling", text)


if __name__ == "__main__":
    main()
