"""messages.list(limit=20) through the real openai SDK on threads of growing size.

    python bench/list_scaling.py [--storage memory|sqlite|postgresql] [--sizes 100,2000,100000]
                                 [--repeat 200] [--out rows.json]

Each thread is filled with one bulk insert through the storage adapter (``create_thread`` with its
messages), not 100,000 API calls: the SDK path is what the crud and long_thread workloads measure.
Each size is timed with the sync client, median and p99 of ``--repeat`` calls after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

from supercompat import loop as _loop
from supercompat import supercompat
from supercompat.testing.storage import make_message, make_thread

from report import pct
from stores import stores

warnings.filterwarnings("ignore", category=DeprecationWarning)


async def fill(storage, size: int) -> str:
    thread = make_thread()
    messages = [make_message(thread["id"], f"long thread message {i}") for i in range(size)]
    await storage.create_thread(thread, messages)
    return thread["id"]


def measure(storage_kind: str, sizes: list[int], repeat: int) -> list[dict]:
    rows = []
    with stores(storage_kind) as made:
        storage = made.fresh()
        client = supercompat(storage_adapter=storage, max_retries=0)
        for size in sizes:
            t0 = time.perf_counter()
            thread_id = _loop.run_sync(fill(storage, size))
            fill_s = time.perf_counter() - t0
            for _ in range(20):
                client.beta.threads.messages.list(thread_id, limit=20)
            samples = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                page = client.beta.threads.messages.list(thread_id, limit=20)
                samples.append((time.perf_counter() - t0) * 1000)
                assert len(page.data) == 20 and page.data[0].content[0].text.value == f"long thread message {size - 1}"
            rows.append({"storage": storage_kind, "size": size, "fill_s": fill_s, "p50_ms": statistics.median(samples),
                         "p99_ms": pct(samples, 99)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--storage", default="memory")
    parser.add_argument("--sizes", default="100,2000,100000")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--out")
    args = parser.parse_args()
    rows = measure(args.storage, [int(s) for s in args.sizes.split(",")], args.repeat)
    print(json.dumps(rows, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
